# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`lp_clips`: a tensorflow-datasets builder that turns a folder of videos/images into ArrayRecord.

Usage (writes DIR/lp_clips/NAME/1.0.0/):

  python -m lp_jax.data.tfds_builder --root FOLDER --tfds_dir DIR [--name NAME] [--frame_size 256]
      [--max_clip_frames 256] [--frame_stride 1] [--weights_dir pretrained_weights] [--exclude G,..]

then train with `data.tfds_dir=DIR`, `data.tfds_name=NAME` (configs/data.py). A finished build
is reused as it is (TFDS semantics): use a new NAME per recipe, or delete the folder to rebuild.

Layout: one record per frame, `image` uint8 [F, F, 3] (decoded pixels, zlib-compressed) and
`landmarks` float32 [203, 2] (crop pixels; zeros when absent). Frames of a clip are consecutive
records (`disable_shuffling`, integer keys), and the clip table -- name, source file, kind, first
record, length, whether landmarks exist -- is the dataset's metadata.json. Training then reads two
records per pair by index, with no video decoding. Videos longer than max_clip_frames become
several clips so a clip never needs more than a bounded span of records.

Crops: with `weights_dir` (a pretrained_weights folder holding the ONNX face models that
lp_jax.detect loads), each clip is cropped around the largest face found in its first frame, with
LivePortrait's source-crop rule (scale crop_scale, vertical shift crop_vy_ratio, axis-aligned, one
box per clip so the clip's head motion is kept), and its 203 landmarks are tracked through the
clip. A clip whose first frame has no face, or any clip without `weights_dir`, gets the centre
square and no landmarks.

TensorFlow is not needed: the features used here (`Tensor`, `Scalar`) encode and decode with
numpy; tfds.features.Image would import TensorFlow, so frames are stored as arrays.
"""

import dataclasses
import json
import os
import sys
from typing import Iterator, Optional

from absl import app, flags, logging
import cv2
import numpy as np
import tensorflow_datasets as tfds

from lp_jax import errors
from lp_jax.data import frames as frames_lib
from lp_jax.data import index
from lp_jax.preprocess import crop

NAME = "lp_clips"
VERSION = "1.0.0"
METADATA_FILE = "metadata.json"


@dataclasses.dataclass(eq=False)
class LpClipsConfig(tfds.core.BuilderConfig):
  """A build recipe (the builder config's name is the dataset's folder under lp_clips/)."""
  root: str = ""
  exclude: tuple = ()  # globs relative to root, as configs/data.py `exclude`
  frame_size: int = 256
  max_clip_frames: int = 256
  frame_stride: int = 1
  weights_dir: Optional[str] = None
  crop_scale: float = 2.3
  crop_vy_ratio: float = -0.125


class LpClips(tfds.core.GeneratorBasedBuilder):
  """Cropped frames of a folder's videos and images, grouped per clip (see module docstring)."""

  VERSION = tfds.core.Version(VERSION)
  BUILDER_CONFIGS = []

  def _info(self) -> tfds.core.DatasetInfo:
    f = int(self.builder_config.frame_size)
    return tfds.core.DatasetInfo(
        builder=self,
        description="LivePortrait training clips: cropped frames and 203-point landmarks.",
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(f, f, 3), dtype=np.uint8,
                                          encoding=tfds.features.Encoding.ZLIB),
            "landmarks": tfds.features.Tensor(shape=(frames_lib.NUM_LANDMARKS, 2),
                                              dtype=np.float32),
            "clip": tfds.features.Scalar(dtype=np.int32),  # row of the metadata clip table
        }),
        # Clips must stay contiguous and in order: records are addressed as start + frame.
        disable_shuffling=True,
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # local files only
    return {"train": self._generate_examples()}

  def _face_models(self):
    if not self.builder_config.weights_dir:
      return None
    # onnxruntime and the ONNX graphs load only for builds that crop faces.
    from lp_jax.detect import models  # pylint: disable=g-import-not-at-top
    return models.FaceModels.from_weights_dir(self.builder_config.weights_dir)

  def _generate_examples(self) -> Iterator[tuple[int, dict]]:
    cfg = self.builder_config
    clips = index.index_folder(cfg.root, tuple(cfg.exclude))
    face_models = self._face_models()
    table, key = [], 0
    for clip in clips:
      try:
        for piece, (images, lmks) in enumerate(self._pieces(clip, face_models)):
          name = clip.name if clip.kind == index.IMAGE else f"{clip.name}#{piece}"
          table.append(dict(name=name, file=clip.file, kind=clip.kind, start=key,
                            num_frames=len(images), has_landmarks=lmks is not None))
          for t, img in enumerate(images):
            lmk = lmks[t] if lmks is not None else np.zeros((frames_lib.NUM_LANDMARKS, 2))
            yield key, {"image": img, "landmarks": lmk.astype(np.float32),
                        "clip": len(table) - 1}
            key += 1
      except index.DataError as e:
        logging.warning("%s; skipped", e)
    if not table:
      raise index.DataError(f"{cfg.root}: no clip could be decoded")
    self.info.metadata.update(clips=table, frame_size=int(cfg.frame_size))

  def _frames(self, clip: index.Clip) -> Iterator[np.ndarray]:
    """Original BGR frames of a clip (every frame_stride-th for videos), streamed."""
    if clip.kind == index.IMAGE:
      img = cv2.imread(clip.path, cv2.IMREAD_COLOR)
      if img is None:
        raise index.DataError(f"{clip.path}: not a readable image")
      yield img
      return
    cap = cv2.VideoCapture(clip.path)
    try:
      t, n = 0, 0
      while True:
        ok, frame = cap.read()
        if not ok:
          break
        if t % max(int(self.builder_config.frame_stride), 1) == 0:
          n += 1
          yield frame
        t += 1
    finally:
      cap.release()
    if n == 0:
      raise index.DataError(f"{clip.path}: no frame could be decoded")

  def _pieces(self, clip: index.Clip, face_models):
    """Yields (list of F x F RGB frames, [T, 203, 2] landmarks or None) per clip piece."""
    cfg = self.builder_config
    f = int(cfg.frame_size)
    images, lmks, state = [], [], None  # state: (crop matrix, last landmarks) of the piece
    for frame in self._frames(clip):
      if face_models is not None:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if not images:  # a new piece: find the face and fix its crop box
          state = self._start_piece(rgb, face_models, clip)
        if state is not None:
          m, prev = state
          lmk = face_models.landmark_203(rgb, prev)
          state = (m, lmk)
          images.append(cv2.warpAffine(rgb, m, (f, f), flags=cv2.INTER_LINEAR))
          lmks.append(lmk @ m[:, :2].T + m[:, 2])
        else:
          images.append(frames_lib.to_base(frame, f))
      else:
        images.append(frames_lib.to_base(frame, f))
      if len(images) == int(cfg.max_clip_frames):
        yield images, (np.stack(lmks) if lmks else None)
        images, lmks = [], []
    if images:
      yield images, (np.stack(lmks) if lmks else None)

  def _start_piece(self, rgb: np.ndarray, face_models, clip: index.Clip):
    """(crop matrix [2, 3], 106 landmarks) of the largest face, or None (centre crop)."""
    faces = face_models.detect_faces(rgb)
    if not faces:
      logging.warning("%s: no face found; centre crop without landmarks", clip.path)
      return None
    lmk203 = face_models.landmark_203(rgb, faces[0].landmark_2d_106)
    cfg = self.builder_config
    m = crop.estimate_similar_transform(lmk203, int(cfg.frame_size), scale=float(cfg.crop_scale),
                                        vy_ratio=float(cfg.crop_vy_ratio), flag_do_rot=False)
    return np.asarray(m, np.float64)[:2], faces[0].landmark_2d_106


def build(root: str, tfds_dir: str, name: str = "default", **recipe) -> str:
  """Builds (or reuses) tfds_dir/lp_clips/<name>/1.0.0 from `root`; returns that folder.

  Args:
    root: folder of videos and images (searched recursively).
    tfds_dir: TFDS data_dir.
    name: builder-config name (one folder per recipe).
    **recipe: LpClipsConfig fields (frame_size, max_clip_frames, frame_stride, weights_dir, ...).
  """
  config = LpClipsConfig(name=name, root=os.path.abspath(root), **recipe)
  builder = LpClips(config=config, data_dir=tfds_dir, file_format="array_record")
  builder.download_and_prepare()
  return os.fspath(builder.data_path)


def build_from_config(data_config) -> str:
  """`build` with configs/data.py fields: root, tfds_dir, tfds_name and tfds_build."""
  recipe = dict(data_config.tfds_build, exclude=tuple(data_config.get("exclude") or ()))
  return build(data_config.root, data_config.tfds_dir, data_config.tfds_name, **recipe)


def read_clip_table(dataset_dir: str) -> tuple[list[index.Clip], int]:
  """(clips, frame size) of a built dataset, from its metadata.json (no record is read)."""
  path = os.path.join(dataset_dir, METADATA_FILE)
  try:
    with open(path) as fh:
      meta = json.load(fh)
    clips = [index.Clip(name=c["name"], file=c["file"], kind=int(c["kind"]),
                        num_frames=int(c["num_frames"]), start=int(c["start"]),
                        has_landmarks=bool(c["has_landmarks"])) for c in meta["clips"]]
    return clips, int(meta["frame_size"])
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise index.DataError(f"{path}: not an {NAME} clip table ({type(e).__name__}: {e})") from e


def main(argv) -> None:
  del argv
  f = flags.FLAGS
  try:
    path = build(f.root, f.tfds_dir, f.name, frame_size=f.frame_size,
                 max_clip_frames=f.max_clip_frames, frame_stride=f.frame_stride,
                 weights_dir=f.weights_dir, exclude=tuple(f.exclude))
  except errors.UserError as e:  # DataError: a missing folder, no usable clip
    sys.exit(errors.report(e))
  logging.info("built %s", path)
  print(path)


if __name__ == "__main__":
  flags.DEFINE_string("root", None, "folder of videos and images", required=True)
  flags.DEFINE_string("tfds_dir", None, "TFDS data_dir to write into", required=True)
  flags.DEFINE_string("name", "default", "builder-config name (folder under lp_clips/)")
  flags.DEFINE_integer("frame_size", 256, "side of the stored square frames")
  flags.DEFINE_integer("max_clip_frames", 256, "split longer videos into clips of this length")
  flags.DEFINE_integer("frame_stride", 1, "keep every n-th video frame")
  flags.DEFINE_string("weights_dir", None, "pretrained_weights folder with the face models")
  flags.DEFINE_list("exclude", [], "glob patterns (relative to root) of files to leave out")
  app.run(main)

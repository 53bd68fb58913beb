# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The driving side of an animation: a video, an image or a motion template, prepared once.

Preparation (before any network weights load) classifies the input, reads what is cheap, and
for videos that need landmarks (cropping, retargeting) tracks the face in a first pass that keeps
only landmarks. `chunks()` then streams the driving frames again, cropped and resized to 256, in
batches with their motion and eye / lip ratios.
"""

import dataclasses
import os
from typing import Iterator

import numpy as np

from lp_jax.inference import faces as faces_lib
from lp_jax.inference.options import AnimationOptions
from lp_jax.io import images, probe, video_reader
from lp_jax.io.errors import MediaError
from lp_jax.motion_template.formats import load_template
from lp_jax.motion_template.template import MotionTemplate
from lp_jax.ops import batching
from lp_jax.preprocess import ratios as ratios_lib


@dataclasses.dataclass
class DrivingChunk:
  """A batch of driving frames (crops, when there are frames) and their motion."""
  motion: dict | None  # [n] scale, R, exp, t (+ kp, x_s); None until M has seen the crops
  crops256: np.ndarray | None = None  # uint8 [n, 256, 256, 3] (host or device)
  ratios: ratios_lib.Ratios | None = None
  frames: np.ndarray | None = None  # uint8 [n, H, W, 3]: decoded, not yet cropped


@dataclasses.dataclass
class DrivingInput:
  """A prepared driving input; `kind` is 'video', 'image' or 'template'."""
  kind: str
  path: str
  max_frames: int | None = None
  info: probe.VideoInfo | None = None  # video
  image: np.ndarray | None = None  # image: the 256 crop
  image_lmk: np.ndarray | None = None  # image: [203, 2] landmarks, when known
  template: MotionTemplate | None = None
  crop_box: np.ndarray | None = None  # video: the global crop box, when cropping
  track: faces_lib.Track | None = None  # video: landmarks from the first pass
  notes: list = dataclasses.field(default_factory=list)
  start: int = 0  # video: the first frame used (a clip cut there: tracking starts on it)

  @property
  def is_video(self) -> bool:
    """The official `flag_is_driving_video`: more than one driving frame."""
    if self.kind == "template":
      return self.template.n_frames > 1
    return self.kind == "video"

  @property
  def fps(self) -> int:
    if self.kind == "video":
      return self.info.fps_int
    if self.kind == "template":
      return int(self.template.output_fps)
    return 25

  @property
  def audio(self) -> str | None:
    return self.path if self.kind == "video" and self.info.has_audio else None

  def frames(self, crop: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """(uint8 256 crop, [203, 2] landmarks or None) per usable driving frame (video / image);
    `crop` False: a video's decoded frames instead of their crops (`crop_matrix` makes them)."""
    if self.kind == "image":
      yield self.image, self.image_lmk
      return
    skipped = set(self.track.skipped) if self.track else set()
    with video_reader.VideoReader(self.path, max_frames=self.max_frames, info=self.info,
                                  start=self.start) as reader:
      for i, frame in enumerate(reader):
        if i in skipped:
          continue
        lmk = self.track.lmks[i] if self.track else None
        if self.crop_box is not None:
          # Official: ratios of a cropped driving video come from its crop-space landmarks.
          yield (faces_lib.crop_driving(frame, self.crop_box) if crop else frame,
                 None if lmk is None else faces_lib.crop_lib.bbox_landmarks(lmk, self.crop_box))
        else:
          yield faces_lib.crop_lib.resize_linear(frame) if crop else frame, lmk

  def crop_matrix(self) -> np.ndarray | None:
    """A video's frame -> 512 crop matrix (2x3 float32), or None where frames are only resized
    to 256."""
    if self.crop_box is None:
      return None
    return faces_lib.crop_lib.bbox_transform(self.crop_box, 512)

  def chunks(self, batch_size: int, crop: bool = True) -> Iterator[DrivingChunk]:
    """DrivingChunks of up to `batch_size` frames: a template's motion, or the frames' crops
    and ratios (their motion is the pipeline's to compute); `crop` False: a video's decoded
    `frames` instead of `crops256`, for a device to crop."""
    if self.kind == "template":
      yield from template_chunks(self.template, batch_size)
      return
    crop = crop or self.kind != "video"
    for batch in batching.batched(self.frames(crop), batch_size):
      lmks = [lmk for _, lmk in batch]
      known = all(l is not None for l in lmks)
      images = np.stack([image for image, _ in batch])
      ratios = ratios_lib.of_landmarks(np.stack(lmks)) if known else None
      yield (DrivingChunk(None, images, ratios) if crop else
             DrivingChunk(None, None, ratios, frames=images))

  def crops_per_frame(self) -> Iterator[np.ndarray | None]:
    """The driving network input shown in the concat video, per animated frame (endless for a
    template or an image)."""
    if self.kind == "video":
      for crop, _ in self.frames():
        yield crop
      return
    while True:
      yield self.image  # None for a template


def template_chunks(tpl: MotionTemplate, batch: int) -> Iterator[DrivingChunk]:
  ratios = tpl.eye_ratios is not None and tpl.lip_ratios is not None
  for i in range(0, tpl.n_frames, batch):
    sl = slice(i, i + batch)
    motion = {k: v[sl] for k, v in tpl.motion().items()}
    yield DrivingChunk(motion, None,
                       ratios_lib.Ratios(tpl.eye_ratios[sl], tpl.lip_ratios[sl]) if ratios else None)


def prepare(path: str, kind: str, options: AnimationOptions, faces: faces_lib.FaceStage, *,
            max_frames: int | None = None, auto_crop: bool = True,
            start: int = 0) -> DrivingInput:
  """Checks and prepares the driving input; errors are one-line MediaError / TemplateError.

  `start` / `max_frames` select a video's frames [start, start + max_frames), as if the clip
  were cut there (tracking starts on frame `start`), or a template's motion entries.

  `auto_crop`: crop a non-square driving video even without --flag_crop_driving_video (the
  human pipeline does; the animals pipeline only resizes it).
  """
  if kind == "template":
    tpl = load_template(path)
    if max_frames or start:
      if start >= tpl.n_frames:
        raise MediaError(f"{path}: the template has {tpl.n_frames} frames, none from {start} on")
      window = slice(start, start + max_frames if max_frames else None)
      tpl = MotionTemplate(**{
          f.name: (v[window] if isinstance(v, np.ndarray) else v)
          for f in dataclasses.fields(tpl) for v in [getattr(tpl, f.name)]})
    out = DrivingInput("template", path, max_frames, template=tpl)
    if options.flag_crop_driving_video:
      out.notes.append("--flag_crop_driving_video is ignored for a motion template")
    return out
  if kind == "image":
    image = images.read_image(path)
    crop = options.flag_crop_driving_video or image.shape[0] != image.shape[1]
    out = DrivingInput("image", path, max_frames)
    if crop:
      faces.require(path, "cropping the driving image (not square, or --flag_crop_driving_video)")
    lmk = faces.image_landmarks(image) if faces.available else None
    if crop:
      if lmk is None:
        raise MediaError(f"{path}: no face found in the driving image")
      box = faces.driving_crop_box(faces_lib.Track([lmk], []), path)
      out.image = faces_lib.crop_driving(image, box)
      out.image_lmk = faces_lib.crop_lib.bbox_landmarks(lmk, box)  # crop space, as upstream
    else:
      out.image = faces_lib.crop_lib.resize_linear(image)
      out.image_lmk = lmk
      if faces.available and lmk is None:
        out.notes.append(f"{os.path.basename(path)}: no face found by the detector; driving "
                         "ratios (retargeting) are off")
    return out
  info = probe.probe_video(path)
  if info.n_frames == 0:
    raise MediaError(f"{path}: the video has no frames")
  crop = options.flag_crop_driving_video or (auto_crop and not info.is_square)
  if start >= info.n_frames:
    raise MediaError(f"{path}: the video has {info.n_frames} frames, none from {start} on")
  out = DrivingInput("video", path, max_frames, info=info, start=start)
  if crop:
    faces.require(path, f"cropping the driving video ({info.width}x{info.height}"
                        f"{'' if info.is_square else ', not square'})")
  # The official pipeline always computes driving landmarks (its templates carry the eye / lip
  # ratios); one landmark pass costs little next to the networks.
  if crop or faces.available:
    with video_reader.VideoReader(path, max_frames=max_frames, info=info, start=start) as reader:
      out.track = faces.track(reader)
    if all(l is None for l in out.track.lmks):
      if crop:
        raise MediaError(f"{path}: no face found in any driving frame")
      out.notes.append(f"{os.path.basename(path)}: no face found in any frame; driving ratios "
                       "(retargeting) are off")
      out.track = None
    elif crop:
      note = faces_lib.skipped_note(out.track, path)
      if note:
        out.notes.append(note)
      out.crop_box = faces.driving_crop_box(out.track, path)
    elif out.track.skipped:
      # Already-cropped frames are all animated; only their ratios would be missing.
      out.notes.append(f"{os.path.basename(path)}: no face in frame #0 (the tracker starts "
                       "there); driving ratios (retargeting) are off")
      out.track = None
  return out


def merge_chunks(chunks: list[DrivingChunk]) -> tuple[dict, ratios_lib.Ratios | None]:
  """The motion and ratios of consecutive chunks as one [T] sequence."""
  motion = {k: np.concatenate([np.asarray(c.motion[k]) for c in chunks]) for k in chunks[0].motion}
  if any(c.ratios is None for c in chunks):
    return motion, None
  return motion, ratios_lib.Ratios(np.concatenate([np.asarray(c.ratios.eye) for c in chunks]),
                        np.concatenate([np.asarray(c.ratios.lip) for c in chunks]))

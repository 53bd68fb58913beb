# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Face crops and landmarks for animation, with the official `Cropper` semantics.

`FaceStage` wraps the three ONNX face models of a `pretrained_weights` folder, or nothing when
they are absent: then inputs must already be face crops, and the features that need landmarks
(eye / lip ratios, retargeting, lip normalisation, paste-back) are off with a note saying why.

Driving videos are tracked in a first pass that keeps only landmarks ([T, 203, 2] floats), so
the frames themselves can stream through the second pass and memory stays flat.
"""

import dataclasses
import os
from typing import Iterable

import numpy as np

from lp_jax.detect import models as face_models
from lp_jax.inference.options import CropOptions
from lp_jax.io.errors import MediaError
from lp_jax.preprocess import crop as crop_lib
from lp_jax.preprocess import ratios as ratios_lib
from lp_jax.preprocess.ratios import Ratios


@dataclasses.dataclass
class SourceFace:
  """A source frame prepared for the networks."""
  crop256: np.ndarray  # uint8 [256, 256, 3], the network input
  lmk: np.ndarray | None = None  # [203, 2] landmarks in original-frame pixels
  m_c2o: np.ndarray | None = None  # 3x3 crop(512) -> original frame, when cropped
  m_o2c: np.ndarray | None = None  # its inverse: re-crops the same frame later

  @property
  def ratios(self) -> Ratios | None:
    return None if self.lmk is None else ratios_lib.of_landmarks(self.lmk[None])


@dataclasses.dataclass
class Track:
  """203-point landmarks tracked over a video: None for frames before the first face."""
  lmks: list  # per frame [203, 2] float32 or None
  skipped: list  # indices of frames without a face (only before the first detection)

  def ratios(self, indices) -> Ratios:
    pts = np.stack([self.lmks[i] for i in indices])
    return ratios_lib.of_landmarks(pts)


class FaceStage:
  """Detection, landmarks and crops; `models` is None when the ONNX files are absent."""

  def __init__(self, models: face_models.FaceModels | None, missing: str | None = None,
               crop: CropOptions = CropOptions()):
    self.models = models
    self.missing = missing  # why there are no models, for notes and errors
    self.crop = crop

  @classmethod
  def from_weights(cls, root: str | None, crop: CropOptions = CropOptions(),
                   device=None) -> "FaceStage":
    """The face models of a pretrained_weights folder (None or partial: no models), run by
    `crop.face_backend` on `device` (JAX's default device when None)."""
    if root is None:
      return cls(None, "no pretrained_weights folder with the ONNX face models was given", crop)
    missing = face_models.missing_files(root)
    if missing:
      return cls(None, f"{os.path.abspath(root)} lacks {', '.join(missing)} (get them with "
                       f"{face_models.DOWNLOAD_HINT})", crop)
    return cls(face_models.FaceModels.from_weights_dir(
        root, det_thresh=crop.det_thresh, backend=crop.face_backend, device=device), crop=crop)

  def crop_source(self, rgb: np.ndarray, lmk: np.ndarray) -> dict:
    """The official source crop of a frame from its landmarks, with the crop options."""
    return crop_lib.crop_source_image(rgb, lmk, scale=self.crop.scale,
                                      vy_ratio=self.crop.vy_ratio,
                                      flag_do_rot=self.crop.flag_do_rot)

  def driving_crop_box(self, track: "Track", path: str) -> np.ndarray:
    """The one axis-aligned box all driving frames are cropped with (mean of per-frame boxes)."""
    boxes = [crop_lib.driving_bbox(l, scale=self.crop.scale_crop_driving_video,
                                   vy_ratio=self.crop.vy_ratio_crop_driving_video)
             for l in track.lmks if l is not None]
    if not boxes:
      raise MediaError(f"{path}: no face found in any driving frame")
    return crop_lib.average_bbox(boxes)

  @property
  def available(self) -> bool:
    return self.models is not None

  def require(self, path: str, what: str) -> None:
    if self.models is None:
      raise MediaError(f"{path}: {what} needs the face models, but {self.missing}")

  # -- images -------------------------------------------------------------------------------

  def _first_face_106(self, rgb: np.ndarray):
    faces = self.models.detect_faces(rgb)
    return faces[0].landmark_2d_106 if faces else None

  def crop_landmarks_256(self, lmk: np.ndarray) -> np.ndarray:
    """A source frame's landmarks in its 256 network crop (official `lmk_crop_256x256` of
    crop_source_video), without warping the frame."""
    dsize = crop_lib.SOURCE_DSIZE
    m = crop_lib.estimate_similar_transform(lmk, dsize, scale=self.crop.scale,
                                            vy_ratio=self.crop.vy_ratio,
                                            flag_do_rot=self.crop.flag_do_rot)
    return crop_lib.transform_pts(lmk, m) * 256 / dsize

  def source_image(self, rgb: np.ndarray, path: str, do_crop: bool) -> SourceFace:
    """Official `crop_source_image` (106 points, scale 2.3) or, without cropping, a direct
    256 resize with landmarks of the whole frame when the models exist."""
    if do_crop:
      self.require(path, "cropping the source (--flag_do_crop, the default; pass "
                         "--no_flag_do_crop for an already-cropped face)")
      lmk106 = self._first_face_106(rgb)
      if lmk106 is None:
        raise MediaError(f"{path}: no face found in the source image")
      crop = self.crop_source(rgb, lmk106)
      return SourceFace(crop["img_crop_256x256"], self.models.landmark_203(rgb, lmk106),
                        crop["M_c2o"], crop["M_o2c"])
    crop256 = crop_lib.resize_linear(rgb)
    if self.models is None:
      return SourceFace(crop256)
    lmk106 = self._first_face_106(rgb)
    lmk = None if lmk106 is None else self.models.landmark_203(rgb, lmk106)
    return SourceFace(crop256, lmk)

  def source_frame(self, rgb: np.ndarray, lmk203: np.ndarray | None, do_crop: bool) -> SourceFace:
    """A source-video frame: cropped from its tracked 203 points (official crop_source_video)."""
    if not do_crop:
      return SourceFace(crop_lib.resize_linear(rgb), lmk203)
    crop = self.crop_source(rgb, lmk203)
    return SourceFace(crop["img_crop_256x256"], lmk203, crop["M_c2o"], crop["M_o2c"])

  def image_landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
    """[203, 2] landmarks of the first face of an image, None without a face."""
    lmk106 = self._first_face_106(rgb)
    return None if lmk106 is None else self.models.landmark_203(rgb, lmk106)

  # -- videos -------------------------------------------------------------------------------

  def track(self, frames: Iterable[np.ndarray]) -> Track:
    """Detect until the first face, then follow it with the 203-point model (official tracker:
    no re-detection afterwards). Frames before the first face are skipped."""
    lmks, skipped, prev = [], [], None
    for i, frame in enumerate(frames):
      if prev is None:
        lmk106 = self._first_face_106(frame)
        if lmk106 is None:
          lmks.append(None)
          skipped.append(i)
          continue
        prev = self.models.landmark_203(frame, lmk106)
      else:
        prev = self.models.landmark_203(frame, prev)
      lmks.append(np.asarray(prev, np.float32))
    return Track(lmks, skipped)


def crop_driving(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
  """A driving frame cropped with the global box (512, INTER_LINEAR) and resized to 256."""
  return crop_lib.resize_linear(crop_lib.crop_image_by_bbox(frame, box, dsize=512)["img_crop"])


def skipped_note(track: Track, path: str) -> str | None:
  if not track.skipped:
    return None
  first, last = track.skipped[0], track.skipped[-1]
  span = f"#{first}" if first == last else f"#{first}-#{last}"
  return (f"{os.path.basename(path)}: no face in frame(s) {span} before the first detection; "
          f"skipped, as the official tracker does")

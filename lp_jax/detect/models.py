# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The three ONNX face models of a `pretrained_weights` folder, loaded together.

`FaceModels.detect_faces` reproduces LivePortrait's `FaceAnalysisDIY.get` as the pipelines call it:
the RGB frame is converted to BGR, faces are detected and ordered by `direction`, and each gets its
106 InsightFace landmarks. `landmark_203` / `track` run LivePortrait's own landmark model on the RGB
frame. InsightFace would also load and run any other model in `buffalo_l` (recognition, 3-D 68
points, gender/age); none of them feeds the pipeline, so only the detector and 2d106det are used.
"""

import dataclasses
import os
from typing import Iterable, Optional, Sequence

import cv2
import numpy as np

from lp_jax.detect import landmark106
from lp_jax.detect import landmark203
from lp_jax.detect import scrfd
from lp_jax.errors import MissingFileError

DET_FILE = "insightface/models/buffalo_l/det_10g.onnx"
LMK106_FILE = "insightface/models/buffalo_l/2d106det.onnx"
LMK203_FILE = "liveportrait/landmark.onnx"
FILES = (DET_FILE, LMK106_FILE, LMK203_FILE)
DOWNLOAD_HINT = "huggingface-cli download KwaiVGI/LivePortrait --local-dir pretrained_weights"


@dataclasses.dataclass(frozen=True)
class Face:
  """One detected face in original-image pixels.

  Attributes:
    bbox: [4] float32 (x1, y1, x2, y2).
    det_score: detection score.
    kps: [5, 2] float32 detector keypoints (or None).
    landmark_2d_106: [106, 2] float32 InsightFace landmarks.
  """
  bbox: np.ndarray
  det_score: float
  kps: Optional[np.ndarray]
  landmark_2d_106: np.ndarray


def missing_files(pretrained_weights_dir: str) -> list:
  """The face-model files (relative paths) absent from a pretrained_weights folder."""
  return [f for f in FILES if not os.path.isfile(os.path.join(pretrained_weights_dir, f))]


def available(pretrained_weights_dir: str) -> bool:
  """Whether all three face-model files are present."""
  return not missing_files(pretrained_weights_dir)


class FaceModels:
  """Detector + 106-point + 203-point landmark models."""

  def __init__(self, detector: scrfd.FaceDetector, lmk106: landmark106.Landmark106,
               lmk203: landmark203.Landmark203):
    self.detector = detector
    self.lmk106 = lmk106
    self.lmk203 = lmk203

  available = staticmethod(available)
  missing_files = staticmethod(missing_files)

  @classmethod
  def from_weights_dir(cls, pretrained_weights_dir: str,
                       det_thresh: float = scrfd.DEFAULT_DET_THRESH,
                       providers: Optional[Sequence[str]] = None,
                       backend: str = scrfd.DEFAULT_BACKEND, device=None) -> "FaceModels":
    """Loads the models from `pretrained_weights_dir` (the folder holding insightface/ and
    liveportrait/); `backend` and `device` say where they run (`scrfd.make_session`).

    Raises:
      MissingFileError: one line naming the missing files and the download command.
    """
    missing = missing_files(pretrained_weights_dir)
    if missing:
      raise MissingFileError(
          f"{os.path.abspath(pretrained_weights_dir)}: missing face model file(s) "
          f"{', '.join(missing)}; download them with {DOWNLOAD_HINT}")
    path = lambda f: os.path.join(pretrained_weights_dir, f)
    run_on = dict(providers=providers, backend=backend, device=device)
    return cls(scrfd.FaceDetector(path(DET_FILE), det_thresh=det_thresh, **run_on),
               landmark106.Landmark106(path(LMK106_FILE), **run_on),
               landmark203.Landmark203(path(LMK203_FILE), **run_on))

  def detect_faces(self, img_rgb: np.ndarray, direction: str = "large-small",
                   max_face_num: int = 0,
                   face_center: Optional[Sequence[float]] = None) -> list:
    """Faces of an RGB image with their 106 landmarks, ordered by `direction` ([] if none)."""
    img_bgr = np.ascontiguousarray(cv2.cvtColor(img_rgb, cv2.COLOR_RGB2BGR))
    det = self.detector.detect(img_bgr, max_face_num=max_face_num, direction=direction,
                               face_center=face_center)
    return [Face(bbox=det.bboxes[i], det_score=float(det.scores[i]),
                 kps=None if det.kps is None else det.kps[i],
                 landmark_2d_106=self.lmk106.get(img_bgr, det.bboxes[i]))
            for i in range(len(det))]

  def landmark_203(self, img_rgb: np.ndarray, lmk: Optional[np.ndarray]) -> np.ndarray:
    """[203, 2] landmarks of an RGB image, the crop placed by `lmk` (106 or 203 points)."""
    return self.lmk203.run(img_rgb, lmk)

  def track(self, frames_rgb: Iterable[np.ndarray], lmk_init: np.ndarray) -> np.ndarray:
    """[T, 203, 2] landmarks tracked over RGB frames from `lmk_init`."""
    return self.lmk203.track(frames_rgb, lmk_init)

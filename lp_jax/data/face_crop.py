# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""One face crop per clip, found with OpenCV's bundled Haar frontal-face cascade (no download).

A talking-head clip is cut to one fixed square around the face for all of its frames, as
VoxCeleb-style training data is: the head moves inside the crop, and that motion is what the
keypoints learn. The box comes from a few frames spread over the clip: on each, the detection the
cascade is most confident of (detectMultiScale3's level weight; a false hit on a hand or a shoe
scores lower than the face); the clip's box is the per-coordinate median over those frames.

The crop side is `scale` times the cascade's box, centred `shift_up` box sides above the box
centre. The defaults frame a face as LivePortrait's cropped driving videos do: on its 512x512
examples (assets/driving/d0.mp4, d11.mp4 and the clips of assets/train/videos) the cascade's box
is 0.53-0.69 of the frame side and its centre 0.05-0.09 box sides below the frame centre.
"""

import dataclasses
import functools
import os
from typing import Optional, Sequence

import cv2
import numpy as np

CASCADE = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")


@dataclasses.dataclass(frozen=True)
class CropSpec:
  """How a face box becomes a crop: side = scale * box side, centre `shift_up` sides higher."""
  scale: float = 1.75
  shift_up: float = 0.07
  sample_frames: int = 5  # frames of a video the box is estimated from
  min_face: float = 0.08  # smallest face side the cascade looks for, as a share of the short side


@functools.lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
  cascade = cv2.CascadeClassifier(CASCADE)
  if cascade.empty():
    raise RuntimeError(f"{CASCADE}: OpenCV's Haar cascade could not be loaded")
  return cascade


def detect_face(frame_bgr: np.ndarray, min_face: float = 0.08) -> Optional[np.ndarray]:
  """The most confident face in a BGR frame as [x, y, side] (pixels), or None."""
  gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
  gray = cv2.equalizeHist(gray)
  side = max(24, int(min_face * min(gray.shape)))
  boxes, _, weights = _cascade().detectMultiScale3(
      gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side), outputRejectLevels=True)
  if len(boxes) == 0:
    return None
  x, y, w, h = boxes[int(np.argmax(np.asarray(weights).reshape(-1)))]
  return np.array([x, y, max(w, h)], np.float64)


def crop_box(faces: Sequence[np.ndarray], spec: CropSpec) -> Optional[np.ndarray]:
  """The clip's square crop [x0, y0, side] (may reach outside the frame) from per-frame faces."""
  if not faces:
    return None
  x, y, s = np.median(np.stack(faces), axis=0)
  side = spec.scale * s
  cx, cy = x + s / 2, y + s / 2 - spec.shift_up * s
  return np.array([cx - side / 2, cy - side / 2, side])


def sample_indices(num_frames: int, k: int) -> list[int]:
  """k frame indices spread evenly over a clip (the first and the last included)."""
  if num_frames <= 1:
    return [0]
  return sorted({int(round(i)) for i in np.linspace(0, num_frames - 1, max(1, k))})


def video_box(path: str, num_frames: int, spec: CropSpec) -> Optional[np.ndarray]:
  """The crop box of a video file from `spec.sample_frames` frames (None: no face found)."""
  cap = cv2.VideoCapture(path)
  faces = []
  try:
    for i in sample_indices(num_frames, spec.sample_frames):
      cap.set(cv2.CAP_PROP_POS_FRAMES, i)
      ok, frame = cap.read()
      if ok:
        face = detect_face(frame, spec.min_face)
        if face is not None:
          faces.append(face)
  finally:
    cap.release()
  return crop_box(faces, spec)


def frames_box(frames_bgr: Sequence[np.ndarray], spec: CropSpec) -> Optional[np.ndarray]:
  """The crop box of decoded frames (an image: one frame)."""
  idx = sample_indices(len(frames_bgr), spec.sample_frames)
  faces = [f for f in (detect_face(frames_bgr[i], spec.min_face) for i in idx) if f is not None]
  return crop_box(faces, spec)


def crop(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
  """The square `box` [x0, y0, side] of a frame at size x size; outside the frame the border
  pixels repeat (a face near the edge keeps its crop centred)."""
  x0, y0, side = (float(v) for v in box)
  x0, y0, side = int(round(x0)), int(round(y0)), max(1, int(round(side)))
  h, w = frame.shape[:2]
  pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
  if pad:
    frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    x0, y0 = x0 + pad, y0 + pad
  square = frame[y0:y0 + side, x0:x0 + side]
  interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
  return cv2.resize(square, (size, size), interpolation=interp)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Encoded source images, cached per image: what a slider change must not recompute.

Encoding a source runs face detection, the 106 / 203-point landmarks, the crop, F (appearance
volume) and M (motion), and warps the paste-back mask into the source frame. The result is kept
in a small LRU keyed by the image's bytes and the crop settings, so every later edit of the same
image starts from it.
"""

import collections
import dataclasses
import os
import threading

import jax
import numpy as np

from lp_jax.io import images
from lp_jax.io.errors import MediaError
from lp_jax.preprocess import crop as crop_lib
from lp_jax.preprocess import paste_back as paste_back_lib
from lp_jax.preprocess import ratios as ratios_lib
from lp_jax.weights import manifest  # one file hash for the whole library

MOTION_KEYS = ("kp", "exp", "scale", "t", "pitch", "yaw", "roll")

@dataclasses.dataclass
class EncodedSource:
  """A source image ready for editing."""
  key: str
  rgb: np.ndarray  # uint8 [H, W, 3], the size-limited source frame
  crop256: np.ndarray  # uint8 [256, 256, 3], the network input
  feature_3d: jax.Array  # [1, D, 64, 64, C]
  x_s: jax.Array  # [1, K, 3]
  motion: dict  # MOTION_KEYS, batch 1
  m_c2o: np.ndarray | None = None  # crop -> source frame (when cropped)
  mask: np.ndarray | None = None  # paste-back mask in the source frame (when cropped)
  eye_ratio: np.ndarray | None = None  # [1, 2] source eye-open ratios (with landmarks)
  lip_ratio: np.ndarray | None = None  # [1, 1] source lip-open ratio

  @property
  def slider_ratios(self) -> tuple[float, float] | None:
    """(eyes, lip) as the official sliders show them: mean of both eyes, two decimals."""
    if self.eye_ratio is None:
      return None
    return (round(float(np.mean(self.eye_ratio)), 2), round(float(self.lip_ratio[0, 0]), 2))

  def paste_back(self, frame: np.ndarray) -> np.ndarray:
    if self.mask is None:
      return frame
    return paste_back_lib.paste_back(frame, self.m_c2o, self.rgb, self.mask)


def encode(pipe, faces, path: str, do_crop: bool, scale: float, key: str = "") -> EncodedSource:
  """Crops (official `crop_source_image` with the given scale) and encodes a source image.

  Raises:
    MediaError: one line, for an unreadable image, no face, or cropping without models.
  """
  name = os.path.basename(path)
  rgb = images.resize_to_limit(images.read_image(path), 1280, 2)
  m_c2o = mask = None
  if do_crop:
    faces.require(name, "cropping the source (do crop)")
    found = faces.models.detect_faces(rgb)
    if not found:
      raise MediaError(f"{name}: no face found in the source image")
    lmk106 = found[0].landmark_2d_106
    crop = crop_lib.crop_source_image(rgb, lmk106, scale=float(scale))
    crop256, m_c2o = crop["img_crop_256x256"], crop["M_c2o"]
    lmk = faces.models.landmark_203(rgb, lmk106)
    mask = paste_back_lib.frame_mask(m_c2o, rgb)
  else:
    crop256 = crop_lib.resize_linear(rgb)
    lmk = None
    if faces.available:  # landmarks of the already-cropped face, for the ratio sliders
      found = faces.models.detect_faces(rgb)
      lmk = faces.models.landmark_203(rgb, found[0].landmark_2d_106) if found else None
  ratios = None if lmk is None else ratios_lib.of_landmarks(np.asarray(lmk)[None])
  src = pipe.encode_source(crop256)
  return EncodedSource(
      key=key, rgb=rgb, crop256=crop256, feature_3d=src.feature_3d, x_s=src.x_s,
      motion={k: np.asarray(src.info[k], np.float32) for k in MOTION_KEYS}, m_c2o=m_c2o,
      mask=mask, eye_ratio=None if ratios is None else np.asarray(ratios.eye, np.float32),
      lip_ratio=None if ratios is None else np.asarray(ratios.lip, np.float32))


class SourceCache:
  """LRU of EncodedSource keyed by (image bytes, do_crop, scale); thread-safe."""

  def __init__(self, pipe, faces, capacity: int = 4):
    self.pipe, self.faces, self.capacity = pipe, faces, capacity
    self._items = collections.OrderedDict()
    self._lock = threading.Lock()
    self.hits = self.misses = 0

  def get(self, path: str, do_crop: bool, scale: float) -> EncodedSource:
    key = f"{manifest.sha256(path)}:{int(bool(do_crop))}:{float(scale):.4f}"
    with self._lock:
      if key in self._items:
        self._items.move_to_end(key)
        self.hits += 1
        return self._items[key]
    # Encoding runs outside the lock: a slow encode does not block edits of cached images.
    src = encode(self.pipe, self.faces, path, do_crop, scale, key)
    with self._lock:
      self.misses += 1
      self._items[key] = src
      while len(self._items) > self.capacity:
        self._items.popitem(last=False)
    return src

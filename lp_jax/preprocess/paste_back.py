# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Paste-back of a generated 512x512 crop into the original frame (official `src/utils/crop.py`).

The official code blends with a mask read from `resources/mask_template.png`. That PNG is not
shipped here: `make_crop_mask` regenerates it procedurally. Its profile, measured on the PNG, is a
square with a 16-pixel linear ramp whose corners are rounded with radius 16: for pixel index i
(0..511 on each axis) the distance to the inner square [16, 496]^2 is e (Euclidean in the corners),
and the value is floor(255 * clip(16 - e, 0, 16) / 16). This is slightly asymmetric (row/column 0
is 0 while row/column 511 is 15), exactly like the PNG; the formula reproduces all 512x512 values
of the official file (max difference 0 levels).
"""

import functools

import numpy as np

from lp_jax.preprocess.crop import warp_image

MASK_RAMP = 16  # width of the soft border in pixels, at dsize 512


@functools.lru_cache(maxsize=8)
def make_crop_mask(dsize: int = 512, ramp: float | None = None, channels: int = 3) -> np.ndarray:
  """The paste-back mask [dsize, dsize, channels] uint8 (official mask_template.png at 512).

  Made once per arguments and shared, hence read-only (only its warp depends on the frame).

  Args:
    dsize: side of the square crop.
    ramp: soft-border width in pixels; defaults to 16 * dsize / 512, the official proportion.
    channels: 3 to match cv2.imread(IMREAD_COLOR) of the template, 0 for a 2-D mask.
  """
  ramp = MASK_RAMP * dsize / 512 if ramp is None else float(ramp)
  idx = np.arange(dsize, dtype=np.float64)
  # Per-axis distance outside the inner square [ramp, dsize - ramp].
  out = np.maximum(ramp - idx, 0.0) + np.maximum(idx - (dsize - ramp), 0.0)
  dist = np.sqrt(out[:, None] ** 2 + out[None, :] ** 2)
  depth = np.clip(ramp - dist, 0.0, ramp)
  # Truncation, not rounding: the template's ramp steps are floor(255 * k / 16) = 15, 31, 47, ...
  mask = np.floor(255.0 * depth / ramp).astype(np.uint8)
  if channels:
    mask = np.repeat(mask[:, :, None], channels, axis=2)
  mask.setflags(write=False)
  return mask


def prepare_paste_back(mask_crop, crop_m_c2o, dsize) -> np.ndarray:
  """The crop mask warped into the original frame, float32 in [0, 1].

  Args:
    mask_crop: [512, 512, 3] uint8 mask (make_crop_mask()).
    crop_m_c2o: crop -> original 3x3 (or 2x3) matrix of the crop.
    dsize: (width, height) of the original frame, OpenCV order as upstream.
  """
  return warp_image(mask_crop, crop_m_c2o, dsize).astype(np.float32) / 255.0


def frame_mask(crop_m_c2o, frame: np.ndarray) -> np.ndarray:
  """The standard crop mask warped into `frame`'s pixels (what paste_back blends with)."""
  return prepare_paste_back(make_crop_mask(), crop_m_c2o, (frame.shape[1], frame.shape[0]))


def paste_back(img_crop, m_c2o, img_ori, mask_ori) -> np.ndarray:
  """Blends the generated crop back into the original frame.

  The crop is warped bilinearly with M_c2o, mixed as mask * warped + (1 - mask) * original in
  float32, clipped to [0, 255] and cast to uint8, which truncates (official behaviour; no rounding).

  Args:
    img_crop: [512, 512, 3] uint8 generated crop (its size must equal the crop's dsize).
    m_c2o: crop -> original matrix of the crop.
    img_ori: [H, W, 3] uint8 original frame.
    mask_ori: [H, W, 3] float32 from prepare_paste_back.
  """
  height, width = img_ori.shape[:2]
  warped = warp_image(img_crop, m_c2o, (width, height))
  return np.clip(mask_ori * warped + (1 - mask_ori) * img_ori, 0, 255).astype(np.uint8)

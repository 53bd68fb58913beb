# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Paste-back of a generated 512x512 crop into the original frame (official `src/utils/crop.py`).

The official code blends with a mask read from `resources/mask_template.png`. That PNG is not
shipped here: `make_crop_mask` regenerates it procedurally. Its profile, measured on the PNG, is a
square with a 16-pixel linear ramp whose corners are rounded with radius 16: for pixel index i
(0..511 on each axis) the distance to the inner square [16, 496]^2 is e (Euclidean in the corners),
and the value is floor(255 * clip(16 - e, 0, 16) / 16). This is slightly asymmetric (row/column 0
is 0 while row/column 511 is 15), exactly like the PNG; the formula reproduces all 512x512 values
of the official file (max difference 0 levels).

`PastedFrame` is the same paste-back, bit for bit, restricted to the pixels the crop can reach:
outside them the mask is 0 and the official blend returns the original pixel unchanged. Inside,
the crop and the mask are resampled with the fixed-point coordinates `cv2.warpAffine` computes
internally (`warp_maps`), handed to `cv2.remap`, which is what warpAffine runs on them.
"""

import functools

import cv2
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


# cv2.warpAffine's fixed point (imgwarp.cpp): coordinates in 1/1024 pixel (AB_BITS), sampled at
# 1/32 pixel (INTER_BITS) with a half-step rounding offset.
_AB_SCALE = 1024
_INTER_BITS = 5
_ROUND_DELTA = _AB_SCALE >> _INTER_BITS >> 1


def inverse_affine(m) -> np.ndarray:
  """The destination -> source 2x3 matrix warpAffine derives from a forward matrix, in float64
  with its operation order (the float32 matrix widened first)."""
  a, b, c, d, e, f = np.asarray(m, np.float32)[:2].astype(np.float64).ravel()
  det = a * e - b * d
  det = 1.0 / det if det != 0.0 else 0.0
  ia, ib, id_, ie = e * det, -b * det, -d * det, a * det
  return np.array([[ia, ib, -ia * c - ib * f], [id_, ie, -id_ * c - ie * f]])


def warp_maps(m, x0: int, x1: int, y0: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
  """(int16 [h, w, 2] pixel, uint16 [h, w] 1/32-pixel index) maps of destination pixels
  [y0, y1) x [x0, x1) under the forward 2x3 `m`, as cv2.warpAffine computes them for bilinear
  sampling: `cv2.remap(img, *maps, cv2.INTER_LINEAR)` equals that window of the warp exactly.

  Per destination column x and row y: X = (cvRound((M01 y + M02) 1024) + 16 + cvRound(M00 x
  1024)) >> 5 (likewise Y), integer pixel X >> 5, fraction X & 31; cvRound rounds half to even.
  """
  inv = inverse_affine(m)
  xs = np.arange(x0, x1, dtype=np.float64)
  ys = np.arange(y0, y1, dtype=np.float64)[:, None]
  coords = []
  for row in inv:
    per_column = np.rint(row[0] * xs * _AB_SCALE).astype(np.int64)
    per_row = np.rint((row[1] * ys + row[2]) * _AB_SCALE).astype(np.int64) + _ROUND_DELTA
    coords.append((per_row + per_column) >> (10 - _INTER_BITS))
  x, y = coords
  pixel = np.stack([x >> _INTER_BITS, y >> _INTER_BITS], axis=-1)
  fraction = (y & 31) * 32 + (x & 31)
  return (np.clip(pixel, -32768, 32767).astype(np.int16), fraction.astype(np.uint16))


def reach(m_c2o, crop_size: int, frame_shape) -> tuple[int, int, int, int] | None:
  """(x0, x1, y0, y1): a window of the frame holding every pixel whose bilinear taps can touch
  the crop under `m_c2o` (None when none can), from the crop's corners padded by 2 pixels."""
  m = np.asarray(m_c2o, np.float64)[:2]
  lo, hi = -2.0, crop_size + 2.0
  corners = np.array([[lo, lo, 1], [hi, lo, 1], [lo, hi, 1], [hi, hi, 1]]) @ m.T
  height, width = frame_shape[:2]
  x0, y0 = np.floor(corners.min(axis=0)) - 1
  x1, y1 = np.ceil(corners.max(axis=0)) + 2
  x0, x1 = int(max(x0, 0)), int(min(x1, width))
  y0, y1 = int(max(y0, 0)), int(min(y1, height))
  if x0 >= x1 or y0 >= y1:
    return None
  return x0, x1, y0, y1


class PastedFrame:
  """`paste_back(crop, m_c2o, frame, frame_mask(m_c2o, frame))`, bit for bit, prepared once per
  (frame, crop matrix): later crops cost a resample and a blend of the face's window only.

  An image source prepares one for the whole animation; a source video one per frame (still
  cheaper than the two full-frame warps of the plain path).
  """

  def __init__(self, m_c2o, frame: np.ndarray, crop_size: int = 512):
    self.frame = frame
    self.window = reach(m_c2o, crop_size, frame.shape)
    if self.window is None:
      return
    x0, x1, y0, y1 = self.window
    self.maps = warp_maps(m_c2o, x0, x1, y0, y1)
    mask = self._resample(make_crop_mask(crop_size)).astype(np.float32) / 255.0
    # Where the mask is 1 the official blend returns the warped crop itself (1 * w + 0 * o),
    # where it is 0 the frame: only the soft border (a band ~16 pixels wide) needs arithmetic.
    # The mask is the same in every channel: one channel selects the copied pixels
    # (cv2.copyTo's vectorised masked copy; numpy's boolean copyto is 8x slower).
    self.inside = np.ascontiguousarray(mask[:, :, 0] == 1.0).astype(np.uint8)
    band = np.flatnonzero((mask > 0) & (mask < 1))
    self.band = band
    rows, cols, channels = np.unravel_index(band, mask.shape)
    # The band's positions in the whole frame, flat: a 1-D scatter (a 3-index one costs 9x).
    self.band_in_frame = np.ravel_multi_index((rows + y0, cols + x0, channels), frame.shape)
    self.band_mask = mask.reshape(-1)[band]
    # (1 - mask) * original: the half of the blend that does not depend on the crop.
    self.band_kept = (1 - self.band_mask) * frame.reshape(-1)[self.band_in_frame]

  def _resample(self, image: np.ndarray) -> np.ndarray:
    return cv2.remap(image, *self.maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0)

  def __call__(self, crop: np.ndarray) -> np.ndarray:
    out = np.array(self.frame, order="C")
    if self.window is None:
      return out
    x0, x1, y0, y1 = self.window
    warped = self._resample(crop)
    cv2.copyTo(warped, self.inside, out[y0:y1, x0:x1])  # writes into the frame's window
    blend = self.band_mask * warped.reshape(-1)[self.band]
    blend += self.band_kept
    out.reshape(-1)[self.band_in_frame] = np.clip(blend, 0, 255, out=blend).astype(np.uint8)
    return out

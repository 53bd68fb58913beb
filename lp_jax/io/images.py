# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Still images: reading as the official code does (cv2), the official resize, atomic writing."""

import os

import cv2
import numpy as np

from lp_jax.io import kinds, outputs
from lp_jax.io.errors import MediaError, one_line

# cv2.imwrite picks the encoder from the extension; .gif has no OpenCV encoder.
WRITABLE_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tiff", ".webp")


def read_image(path: str) -> np.ndarray:
  """Reads an image as uint8 RGB [H, W, 3], like the official cv2.imread + BGR->RGB.

  IMREAD_COLOR drops alpha, expands grayscale and applies the EXIF orientation, as upstream does.
  """
  if os.path.isdir(path):
    raise MediaError(f"{path}: is a directory, not an image")
  if not os.path.isfile(path):
    raise MediaError(f"{path}: no such file")
  img = cv2.imread(path, cv2.IMREAD_COLOR)
  if img is None:
    raise MediaError(f"{path}: not a readable image")
  return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def resize_to_limit(img: np.ndarray, max_dim: int = 1280, division: int = 2) -> np.ndarray:
  """The official resize_to_limit: shrink so the long side is at most `max_dim`, then crop.

  The resize (cv2 INTER_LINEAR) makes the long side exactly `max_dim` and the other
  int(other * (max_dim / long)) -- that operation order, as upstream, since it decides rounding.
  Then the bottom rows / right columns are cropped (not resized) so both sides are multiples of
  `division`, unless that would leave nothing (an image smaller than `division` is kept).
  """
  h, w = img.shape[:2]
  if max_dim > 0 and max(h, w) > max_dim:
    if h > w:
      new_h, new_w = max_dim, int(w * (max_dim / h))
    else:
      new_h, new_w = int(h * (max_dim / w)), max_dim
    img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
  division = max(division, 1)
  h, w = img.shape[:2]
  new_h, new_w = h - h % division, w - w % division
  if new_h == 0 or new_w == 0:
    return img
  return img[:new_h, :new_w]


def check_rgb(path: str, rgb, what: str) -> np.ndarray:
  """`rgb` as an array if it is uint8 RGB [H, W, 3], else a MediaError naming `path`."""
  arr = np.asarray(rgb)
  if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
    raise MediaError(f"{path}: {what} must be a uint8 RGB [H, W, 3] array, got {arr.dtype} "
                     f"{list(arr.shape)}")
  return arr


def write_image(path: str, rgb: np.ndarray) -> str:
  """Writes a uint8 RGB image atomically (temporary name, then rename); returns the path.

  The format follows the extension (cv2.imwrite defaults, e.g. JPEG quality 95, as upstream).
  """
  path = os.path.abspath(path)
  if kinds.ext(path) not in WRITABLE_IMAGE_EXTS:
    raise MediaError(f"{path}: cannot write images of type {kinds.ext(path) or '(no extension)'} "
                     f"(use {'/'.join(WRITABLE_IMAGE_EXTS)})")
  arr = check_rgb(path, rgb, "the image")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  try:
    with outputs.replacing(path) as tmp:
      if not cv2.imwrite(tmp, cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2BGR)):
        raise MediaError(f"{path}: could not write the image")
  except cv2.error as e:
    raise MediaError(f"{path}: could not write the image ({one_line(str(e))})") from None
  return path

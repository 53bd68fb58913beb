# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Paste-back and driving crop on the accelerator, equal to the host OpenCV path to the bit.

The host versions (`lp_jax.preprocess.paste_back`, `lp_jax.inference.faces.crop_driving`) run
cv2.warpAffine / cv2.resize on every frame; these run the same arithmetic with
`lp_jax.ops.cv_warp`, so that the per-frame work after the generator stays on the device and fuses
with it. Matrices may be traced (one compiled program for every crop).

The blend is the official float32 expression mask * warped + (1 - mask) * frame, clipped and
truncated to uint8. Compilers contract such an expression into fused multiply-adds (XLA does on
CPU and GPU), which skips a rounding and, after the truncation, moves about one pixel in 2000 by
a level. Each product is therefore computed as the sum of two exact partial products (the float32
factor split into 16 + 8 significant bits, times an 8-bit integer), whose single rounding is the
rounding of the product itself, fused or not.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from lp_jax.ops import cv_resize
from lp_jax.ops import cv_warp
from lp_jax.preprocess.paste_back import make_crop_mask

CROP_SIZE = 512  # the generator's output and the driving crop's first stage

# k / 255 in float32, exactly as NumPy divides a float32 array by 255.0 (a table lookup cannot be
# rewritten into a multiplication by an inexact reciprocal, by any compiler).
_UNIT = np.arange(256, dtype=np.float32) / np.float32(255.0)


def frame_mask(m_c2o, dsize) -> jax.Array:
  """The paste-back mask warped into the frame: float32 [H, W, 3] in [0, 1].

  Equal to `prepare_paste_back(make_crop_mask(), m_c2o, dsize)`; computed once per source.

  Args:
    m_c2o: crop -> original 3x3 (or 2x3) matrix, concrete or traced; a batch [B, 3, 3] gives
      [B, H, W, 3].
    dsize: static (width, height) of the frame.
  """
  # All three channels are warped although they are equal: XLA (CPU) fuses a warp feeding a
  # channel broadcast into one loop that recomputes the sampling per channel, which is slower.
  warped = cv_warp.warp_affine(make_crop_mask(CROP_SIZE), m_c2o, dsize)
  return jnp.take(jnp.asarray(_UNIT), warped.astype(jnp.int32), axis=0)


def _times_u8(v, u):
  """float32 v (non-negative) times integer-valued float32 u in [0, 255], rounded once.

  v = hi + lo with hi holding the top 16 significant bits and lo the other 8, so hi * u and
  lo * u are exact and their sum rounds exactly like v * u, with or without FMA contraction.
  """
  hi = lax.bitcast_convert_type(
      lax.bitcast_convert_type(v, jnp.uint32) & jnp.uint32(0xFFFFFF00), jnp.float32)
  return hi * u + (v - hi) * u


def blend(mask, warped, frame) -> jax.Array:
  """clip(mask * warped + (1 - mask) * frame, 0, 255) as uint8 (truncating), float32 like NumPy.

  Args:
    mask: float32 in [0, 1], broadcastable against the images.
    warped, frame: uint8 images of one shape.
  """
  mask = jnp.asarray(mask, jnp.float32)
  out = (_times_u8(mask, warped.astype(jnp.float32))
         + _times_u8(1.0 - mask, frame.astype(jnp.float32)))
  return jnp.clip(out, 0.0, 255.0).astype(jnp.uint8)


def paste_back(crop, m_c2o, frame, mask) -> jax.Array:
  """The generated crop blended back into the original frame (host `paste_back`'s numbers).

  Batched over a leading frame axis: `crop` [B, 512, 512, 3] with `m_c2o` [3, 3] or [B, 3, 3],
  `frame` [H, W, 3] or [B, H, W, 3] and `mask` [H, W, 3] or [B, H, W, 3] (shared or per frame).

  Args:
    crop: uint8 [512, 512, 3] generated crop (its size must be the crop's dsize).
    m_c2o: crop -> original matrix (3x3 or 2x3), concrete or traced.
    frame: uint8 [H, W, 3] original frame.
    mask: float32 [H, W, 3] from frame_mask (or the host prepare_paste_back).

  Returns:
    uint8 [H, W, 3], or [B, H, W, 3] when anything is batched.
  """
  frame = jnp.asarray(frame)
  height, width = frame.shape[-3:-1]
  warped = cv_warp.warp_affine(crop, m_c2o, (width, height))
  return blend(mask, warped, frame)


def driving_crop(frame, m_o2c, size: int = 256) -> jax.Array:
  """A driving frame's 512 crop (warpAffine, INTER_LINEAR) resized to `size` (INTER_LINEAR).

  The numbers of `lp_jax.inference.faces.crop_driving`. Batched like cv_warp.warp_affine: frames
  [B, H, W, 3] with one matrix or one per frame.

  Args:
    frame: uint8 [H, W, 3] (or [B, H, W, 3]) original frame.
    m_o2c: original -> crop matrix (3x3 or 2x3) of the 512 crop, concrete or traced.
    size: static output side.

  Returns:
    uint8 [size, size, 3] (or [B, size, size, 3]).
  """
  crop = cv_warp.warp_affine(frame, m_o2c, (CROP_SIZE, CROP_SIZE))
  return cv_resize.resize_linear(crop, (size, size))

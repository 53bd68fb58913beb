# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""OpenCV 4.10's uint8 `resize` (INTER_LINEAR) in JAX, bit-exact (the driving crop's 512 -> 256).

resize (resize.cpp). Coefficients depend only on the static sizes and are computed on the host
with OpenCV's float32 / double mix: 11-bit horizontal and vertical weights, horizontal sums in
int32, and the vertical pass as the SIMD kernel computes it, which is not the scalar formula:
((h0 >> 4) * b0 >> 16) + ((h1 >> 4) * b1 >> 16) + 2 >> 2. OpenCV 4.10 returns that on every pixel
(measured on sizes down to 1 column); exact 2x reductions, which OpenCV hands to INTER_AREA, give
the same numbers through it.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from lp_jax.ops.cv_warp import as_uint8_image, checked_dsize

RESIZE_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS


def _resize_axis(dst: int, src: int):
  """OpenCV's INTER_LINEAR left source index (int64, unclamped) and float32 fraction per output
  index along one axis; the edge rules differ between the axes and are the caller's."""
  scale = 1.0 / (dst / src)  # OpenCV stores inv_scale = dst / src and inverts it
  pos = ((np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
  left = np.floor(pos)
  frac = (pos - left).astype(np.float32)
  return left.astype(np.int64), frac


def _coef(frac) -> tuple[np.ndarray, np.ndarray]:
  """(1 - f, f) in 11-bit fixed point, float32 products rounded half to even (saturate_cast)."""
  one = np.float32(1 << RESIZE_COEF_BITS)
  return (np.rint((np.float32(1) - frac) * one).astype(np.int32),
          np.rint(frac * one).astype(np.int32))


@functools.lru_cache(maxsize=64)
def _resize_plan(src_h: int, src_w: int, dst_h: int, dst_w: int):
  """Static gather indices and weights of one resize."""
  sx, fx = _resize_axis(dst_w, src_w)
  # Horizontally, taps left of the image or at / past its last column collapse onto the edge
  # pixel with weight 0 for the second tap.
  low, high = sx < 0, sx >= src_w - 1
  fx = np.where(low | high, np.float32(0), fx).astype(np.float32)
  sx = np.where(low, 0, np.where(high, src_w - 1, sx))
  a0, a1 = _coef(fx)
  sy, fy = _resize_axis(dst_h, src_h)
  # Vertically, rows are clamped but the weights stay as computed.
  b0, b1 = _coef(fy)
  return {"x0": sx.astype(np.int32), "x1": np.minimum(sx + 1, src_w - 1).astype(np.int32),
          "a0": a0, "a1": a1,
          "y0": np.clip(sy, 0, src_h - 1).astype(np.int32),
          "y1": np.clip(sy + 1, 0, src_h - 1).astype(np.int32), "b0": b0, "b1": b1}


def _resize_one(img, dst_h: int, dst_w: int):
  """resize_linear of one [H, W, C] uint8 image."""
  src_h, src_w, channels = img.shape
  if (src_h, src_w) == (2 * dst_h, 2 * dst_w):
    # Exact halving (512 -> 256): all weights are 1/2, and the kernel below reduces to the
    # rounded mean of each 2x2 block (OpenCV's INTER_AREA fast path, which it uses here). A
    # reduce_window, unlike strided slices, keeps XLA:CPU from fusing a producing warp into a
    # slow per-element loop.
    total = lax.reduce_window(img.astype(jnp.int32), 0, lax.add, (2, 2, 1), (2, 2, 1), "VALID")
    return ((total + 2) >> 2).astype(jnp.uint8)
  plan = _resize_plan(src_h, src_w, dst_h, dst_w)

  def horizontal(rows):
    rows = jnp.take(img, rows, axis=0).astype(jnp.int32)
    left = jnp.take(rows, plan["x0"], axis=1) * plan["a0"][None, :, None]
    right = jnp.take(rows, plan["x1"], axis=1) * plan["a1"][None, :, None]
    return left + right  # pixel * 2^11

  # OpenCV's SIMD vertical kernel: int16 halves of the sums, high products, rounding shift by 2.
  top = ((horizontal(plan["y0"]) >> 4) * plan["b0"][:, None, None]) >> 16
  bottom = ((horizontal(plan["y1"]) >> 4) * plan["b1"][:, None, None]) >> 16
  return jnp.clip((top + bottom + 2) >> 2, 0, 255).astype(jnp.uint8)


@functools.partial(jax.jit, static_argnames=("dsize",))
def _resize(img, dsize):
  width, height = dsize
  fn = functools.partial(_resize_one, dst_h=height, dst_w=width)
  return jax.vmap(fn)(img) if img.ndim == 4 else fn(img)


def resize_linear(img, dsize) -> jax.Array:
  """cv2.resize(img, dsize, interpolation=cv2.INTER_LINEAR) for uint8 images, bit-exact.

  Args:
    img: uint8 [H, W], [H, W, C] or a batch [B, H, W, C].
    dsize: static (width, height), OpenCV order.

  Returns:
    uint8 [height, width] / [height, width, C] / [B, height, width, C] like the input.
  """
  img, flat = as_uint8_image(img)
  out = _resize(img, checked_dsize(dsize))
  return out[..., 0] if flat else out

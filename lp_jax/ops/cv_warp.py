# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""OpenCV 4.10's uint8 `warpAffine` (INTER_LINEAR, black border) in JAX.

The pre- and post-processing around the networks (driving crops, paste-back) were written against
OpenCV, and the official outputs are OpenCV's to the bit. These functions reproduce its fixed-point
arithmetic so that the work can run on the accelerator, fused with the networks, without changing a
single output level. Both are plain `jax.numpy`: int32 pixel arithmetic, gathers with flat
indices, no float64 anywhere; jittable with static output sizes.

warpAffine (imgwarp.cpp). The forward matrix is inverted in double precision; the source position
of output pixel (x, y) is then X = (A[x] + X0[y]) >> 5 in 1/32-pixel units, with the per-column
term A[x] = cvRound(1024 * m00 * x) and the per-row term X0[y] = cvRound(1024 * (m01 * y + m02))
+ 16 (likewise for Y), cvRound rounding halves to even. The integer part of X is the left tap, its
low 5 bits the sub-pixel position, whose bilinear weights are exact multiples of 2^-15 summing to 1
(OpenCV's table nudges one weight of the integer position by 2^-15, which cannot change an 8-bit
result). The output is (sum + 2^14) >> 15; taps outside the image read 0.

  Where that double arithmetic happens depends on the matrix:
  * Concrete matrices (NumPy or a concrete jax.Array) get their inverse and row / column terms on
    the host in float64, exactly as OpenCV computes them: bit-exact.
  * A traced matrix (one compiled program for every matrix) is inverted in the program in
    double-float arithmetic (pairs of float32; measured relative error <= 1e-11), and the row /
    column terms are evaluated from that inverse as fixed-point numbers with 64 fraction bits in
    int32 limbs, rounded half to even. The terms' error is below 1e-7 (in 1/1024 pixel) up to
    index 2000, so a term can differ from OpenCV's only if its exact value lies that close to a
    rounding tie without being one (exact ties, as from dyadic matrices, come out exact); such a
    term would move one row or column of positions by 1/1024 pixel. The error-free
    transformations (TwoSum; Dekker's product with 12-bit halves) only round exact products, so
    their results do not depend on whether the compiler forms fused multiply-adds.

The INTER_LINEAR resize is in `lp_jax.ops.cv_resize`.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

AB_BITS = 10  # fractional bits of the fixed-point source coordinates
INTER_BITS = 5  # sub-pixel bits kept for the interpolation weights (1/32 pixel)
_ROUND_DELTA = 1 << (AB_BITS - INTER_BITS - 1)  # OpenCV's AB_SCALE / INTER_TAB_SIZE / 2
_MAX_SIDE = 32767  # OpenCV stores coordinates as int16; the fixed-point tables rely on it too


_LIMB_BITS = 16  # fixed point: int32 integer part + 4 limbs of 16 fractional bits (2^-64)
_LIMB_MASK = (1 << _LIMB_BITS) - 1
_N_LIMBS = 4


def checked_dsize(dsize) -> tuple[int, int]:
  """(width, height) from an OpenCV dsize, checked against OpenCV's int16 coordinate range."""
  width, height = (int(v) for v in dsize)
  if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
    raise ValueError(f"dsize {dsize} must be positive and at most {_MAX_SIDE}")
  return width, height


def as_uint8_image(img) -> tuple[jax.Array, bool]:
  """uint8 image as [..., H, W, C] and whether it was a 2-D [H, W] image."""
  img = jnp.asarray(img)
  if img.dtype != jnp.uint8:
    raise TypeError(f"expected a uint8 image, got {img.dtype}")
  if img.ndim == 2:
    return img[..., None], True
  if img.ndim not in (3, 4):
    raise ValueError(f"expected [H, W], [H, W, C] or [B, H, W, C], got shape {img.shape}")
  return img, False


# ------------------------------------------------------------------ host (float64) warp tables


def invert_affine(m) -> np.ndarray:
  """OpenCV's inverse of forward 2x3 (or 3x3) matrices, float64 [..., 6] (row-major 2x3).

  The same double operations in the same order as cv::warpAffine without WARP_INVERSE_MAP, so the
  result is bit-identical to the matrix OpenCV samples with (a singular matrix gives zeros).
  """
  m = np.asarray(m, dtype=np.float64)[..., :2, :]
  m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
  m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
  det = m00 * m11 - m01 * m10
  with np.errstate(divide="ignore"):
    inv_det = np.where(det != 0, 1.0 / np.where(det != 0, det, 1.0), 0.0)
  a00, a11 = m11 * inv_det, m00 * inv_det
  a01, a10 = m01 * -inv_det, m10 * -inv_det
  b0 = -a00 * m02 - a01 * m12
  b1 = -a10 * m02 - a11 * m12
  return np.stack([a00, a01, b0, a10, a11, b1], axis=-1)


def _host_tables(m, width: int, height: int) -> tuple[np.ndarray, ...]:
  """(A_x, A_y [..., width], X0, Y0 [..., height]) int32, as OpenCV computes them in double."""
  inv = invert_affine(m)
  col = np.arange(width, dtype=np.float64)
  row = np.arange(height, dtype=np.float64)
  scale = float(1 << AB_BITS)

  def term(v):  # saturate_cast<int>: cvRound (half to even), clamped to the int32 range
    return np.clip(np.rint(v), -2.0 ** 31, 2.0 ** 31 - 1).astype(np.int32)

  ax = term(inv[..., 0:1] * col * scale)
  ay = term(inv[..., 3:4] * col * scale)
  x0 = term((inv[..., 1:2] * row + inv[..., 2:3]) * scale) + _ROUND_DELTA
  y0 = term((inv[..., 4:5] * row + inv[..., 5:6]) * scale) + _ROUND_DELTA
  return ax, ay, x0, y0


# ------------------------------------------------------ traced warp tables (no float64 needed)
# Double-float numbers are (hi, lo) float32 pairs with |lo| <= ulp(hi) / 2.


def _two_sum(a, b):
  """a + b as an unevaluated (sum, error) pair, exactly (Knuth); additions only."""
  s = a + b
  bb = s - a
  return s, (a - (s - bb)) + (b - bb)


def _fast_two_sum(a, b):
  """Like _two_sum for |a| >= |b| (or a == 0)."""
  s = a + b
  return s, b - (s - a)


def _split12(a):
  """a = hi + lo exactly, each with at most 12 significant bits (so their products are exact)."""
  hi = lax.bitcast_convert_type(
      lax.bitcast_convert_type(a, jnp.uint32) & jnp.uint32(0xFFFFF000), jnp.float32)
  return hi, a - hi


def _two_prod(a, b):
  """a * b exactly as (product, error) (Dekker). Each rounded product here is exact, so a fused
  multiply-add, if the compiler forms one, computes the same numbers."""
  p = a * b
  ah, al = _split12(a)
  bh, bl = _split12(b)
  return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _df_add(x, y):
  s, e = _two_sum(x[0], y[0])
  t, f = _two_sum(x[1], y[1])
  s, e = _fast_two_sum(s, e + t)
  return _fast_two_sum(s, e + f)


def _df_neg(x):
  return -x[0], -x[1]


def _df_mul_f(x, b):
  """Double-float times float32."""
  p, e = _two_prod(x[0], b)
  return _fast_two_sum(p, e + x[1] * b)


def _df_recip(x):
  """1 / x for a nonzero double-float, by two residual corrections of the float32 quotient."""
  one = (jnp.ones_like(x[0]), jnp.zeros_like(x[0]))
  q1 = 1.0 / x[0]
  r = _df_add(one, _df_neg(_df_mul_f(x, q1)))
  q2 = r[0] / x[0]
  r = _df_add(r, _df_neg(_df_mul_f(x, q2)))
  q3 = r[0] / x[0]
  return _df_add(_fast_two_sum(q1, q2), (q3, jnp.zeros_like(q3)))


def _traced_inverse(m):
  """OpenCV's inverse of one forward float32 matrix as a double-float pair of [6] vectors
  (a00, a01, b0, a10, a11, b1), following cv::warpAffine's formula term by term (vectorized
  where its terms are independent, which keeps the program small)."""
  m = jnp.asarray(m, jnp.float32)[:2, :]
  m00, m01, m02, m10, m11, m12 = (m[i, j] for i in range(2) for j in range(3))
  det = _df_add(_two_prod(m00, m11), _df_neg(_two_prod(m01, m10)))
  singular = det[0] == 0
  safe = (jnp.where(singular, 1.0, det[0]), jnp.where(singular, 0.0, det[1]))
  inv_det = tuple(jnp.where(singular, 0.0, v) for v in _df_recip(safe))
  # [a00, a01, a10, a11] = inv_det * [m11, -m01, -m10, m00]; negating a float32 is exact.
  lin = _df_mul_f(inv_det, jnp.stack([m11, -m01, -m10, m00]))
  # [b0, b1] = -([a00, a10] * m02 + [a01, a11] * m12)
  first = _df_mul_f((lin[0][0::2], lin[1][0::2]), m02)
  second = _df_mul_f((lin[0][1::2], lin[1][1::2]), m12)
  off = _df_neg(_df_add(first, second))

  def order(a, b):
    return jnp.stack([a[0], a[1], b[0], a[2], a[3], b[1]])

  return order(lin[0], off[0]), order(lin[1], off[1])


def _fx_normalize(limbs):
  """Propagates carries so that every fraction limb is in [0, 2^16); the int part keeps the sign
  (value = limbs[0] + sum_k limbs[k] * 2^(-16 k), floor semantics through arithmetic shifts)."""
  limbs = list(limbs)
  for k in range(_N_LIMBS, 0, -1):
    carry = limbs[k] >> _LIMB_BITS
    limbs[k] = limbs[k] & _LIMB_MASK
    limbs[k - 1] = limbs[k - 1] + carry
  return limbs


def _fx_from_f32(v):
  """Fixed-point limbs of a float32 (exact down to 2^-64; every step below is exact)."""
  a = jnp.minimum(jnp.abs(v), jnp.float32(2.0 ** 30))  # keeps the int part in int32
  whole = jnp.floor(a)
  frac = a - whole
  limbs = [whole.astype(jnp.int32)]
  for _ in range(_N_LIMBS):
    frac = frac * jnp.float32(1 << _LIMB_BITS)
    digit = jnp.floor(frac)
    frac = frac - digit
    limbs.append(digit.astype(jnp.int32))
  sign = jnp.where(v < 0, -1, 1).astype(jnp.int32)
  return [sign * limb for limb in limbs]


def _fx_from_df(x):
  """Fixed-point limbs of 2^AB_BITS times a double-float (scaling by a power of two is exact)."""
  scale = jnp.float32(1 << AB_BITS)
  hi, lo = _fx_from_f32(x[0] * scale), _fx_from_f32(x[1] * scale)
  return _fx_normalize([h + l for h, l in zip(hi, lo)])


def _fx_times(c, n: int):
  """c[:, None] * [0, 1, ..., n - 1] as normalized limbs [len(c), n]; n <= 32768 keeps every
  limb product in int32."""
  idx = jnp.arange(n, dtype=jnp.int32)
  return _fx_normalize([limb[:, None] * idx for limb in c])


def _fx_round(limbs):
  """Round half to even of a normalized fixed-point number, as int32 (OpenCV's cvRound)."""
  whole, first = limbs[0], limbs[1]
  rest = (limbs[2] | limbs[3] | limbs[4]) != 0
  half = 1 << (_LIMB_BITS - 1)
  up = (first > half) | ((first == half) & (rest | ((whole & 1) == 1)))
  return whole + up.astype(jnp.int32)


def _traced_tables(m, width: int, height: int):
  """_host_tables for one traced matrix, in int32 / float32 only."""
  coef = _fx_from_df(_traced_inverse(m))  # limbs of [6]: a00, a01, b0, a10, a11, b1
  cols = _fx_round(_fx_times([c[jnp.array([0, 3])] for c in coef], width))
  rows = _fx_times([c[jnp.array([1, 4])] for c in coef], height)
  rows = _fx_round(_fx_normalize([r + c[jnp.array([2, 5])][:, None]
                                  for r, c in zip(rows, coef)])) + _ROUND_DELTA
  return cols[0], cols[1], rows[0], rows[1]


def warp_tables(m, dsize):
  """Per-column / per-row fixed-point source coordinates (A_x, A_y, X0, Y0) of a warp.

  Args:
    m: forward 2x3 or 3x3 matrix, or a batch [B, 2|3, 3]; concrete (exact host float64) or
      traced (in-program double-float emulation, see the module docstring).
    dsize: static (width, height) of the output.

  Returns:
    int32 arrays A_x, A_y [..., width] and X0, Y0 [..., height]; the source position of output
    (x, y) in 1/1024 pixel is (A_x[x] + X0[y], A_y[x] + Y0[y]), rounding offset included.
  """
  width, height = checked_dsize(dsize)
  try:
    host = np.asarray(m)
  except jax.errors.TracerArrayConversionError:
    host = None
  if host is not None:
    return tuple(jnp.asarray(t) for t in _host_tables(host, width, height))
  tables = _traced_tables
  for _ in range(m.ndim - 2):
    tables = jax.vmap(tables, in_axes=(0, None, None))
  return tables(m, width, height)


# ---------------------------------------------------------------------------- sampling kernels


def _sample(img, ax, ay, x0, y0):
  """Bilinear fixed-point sampling of img [H, W, C] uint8 at the positions of the tables."""
  height, width, channels = img.shape
  x = (x0[:, None] + ax[None, :]) >> (AB_BITS - INTER_BITS)  # 1/32-pixel units
  y = (y0[:, None] + ay[None, :]) >> (AB_BITS - INTER_BITS)
  sx, fx = x >> INTER_BITS, x & ((1 << INTER_BITS) - 1)
  sy, fy = y >> INTER_BITS, y & ((1 << INTER_BITS) - 1)
  # A one-pixel zero frame, and tap indices clamped onto it, make every outside tap read 0
  # (BORDER_CONSTANT) without masks.
  flat = jnp.pad(img, ((1, 1), (1, 1), (0, 0))).reshape(-1, channels)
  stride = width + 2
  cols = [jnp.clip(sx + d, -1, width) + 1 for d in (0, 1)]
  rows = [(jnp.clip(sy + d, -1, height) + 1) * stride for d in (0, 1)]
  one = 1 << INTER_BITS
  wx, wy = (one - fx, fx), (one - fy, fy)
  acc = None
  for i in (0, 1):
    for j in (0, 1):
      tap = jnp.take(flat, (rows[i] + cols[j]).reshape(-1), axis=0, mode="clip")
      term = tap.astype(jnp.int32) * (wy[i] * wx[j]).reshape(-1, 1)
      acc = term if acc is None else acc + term
  # Weights sum to 2^10 here; OpenCV's are 32 times larger with a >> 15, which is the same.
  out = (acc + (1 << (2 * INTER_BITS - 1))) >> (2 * INTER_BITS)
  return out.astype(jnp.uint8).reshape(x.shape + (channels,))


@jax.jit
def _warp_with_tables(img, ax, ay, x0, y0):
  """_sample over optional leading batch axes of the image and / or of the tables."""
  fn = _sample
  img_batched, tab_batched = img.ndim == 4, ax.ndim == 2
  if img_batched or tab_batched:
    fn = jax.vmap(fn, in_axes=(0 if img_batched else None,) + (0 if tab_batched else None,) * 4)
  return fn(img, ax, ay, x0, y0)


def warp_affine(img, m, dsize) -> jax.Array:
  """cv2.warpAffine(img, m, dsize, flags=cv2.INTER_LINEAR) for uint8 images (black border).

  Args:
    img: uint8 [H, W], [H, W, C] or a batch [B, H, W, C].
    m: forward matrix as passed to cv2.warpAffine (without WARP_INVERSE_MAP): 2x3 or 3x3, or a
      batch [B, 2|3, 3] (one per image, or one batch of matrices for a single image). Concrete
      matrices are inverted on the host in float64 (bit-exact); traced ones in the program
      (one compiled program for all matrices; see the module docstring for its precision).
    dsize: static (width, height) of the output, OpenCV order.

  Returns:
    uint8 [height, width] / [height, width, C] / [B, height, width, C] like the input.
  """
  img, flat = as_uint8_image(img)
  out = _warp_with_tables(img, *warp_tables(m, dsize))
  return out[..., 0] if flat else out

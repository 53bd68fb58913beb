# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A 3x3 convolution (stride 1, zero padding 1) by Winograd's minimal filtering F(4x4, 3x3).

Each 4x4 block of outputs is computed from the 6x6 input tile around it as
Y = A^T [(G K G^T) * (B^T d B)] A (Lavin & Gray, "Fast Algorithms for Convolutional Neural
Networks", 2016, interpolation points 0, +-1, +-2, infinity): 36 multiplies per tile, input
and output channel pair instead of the direct form's 144, i.e. 4x fewer multiply-adds. The
element-wise products summed over input channels are 36 independent GEMMs
[tiles, I] x [I, O], which run at the machine's matmul rate; the transforms are additions.

Why: XLA:CPU's direct convolution already runs at the processor's FMA peak, so the only way
to make the generator's big 3x3 layers faster on CPU is fewer multiply-adds. The transforms
read and write 2.25x the input and output, so the form pays where the tiles stay in cache
(KernelForms.winograd_max_hw) and only in float32: the transform constants (1/6, 1/24) and
the larger intermediate range cost half-precision formats their accuracy.

Results equal the direct convolution up to float rounding (measured: max abs error ~2e-5
relative to the output scale in float32, see tests/test_conv_forms.py).
"""

import jax
import jax.numpy as jnp
import numpy as np

TILE = 4  # outputs per tile side
WINDOW = TILE + 2  # input tile side (3x3 kernel)

# Input transform B^T [6, 6], kernel transform G [6, 3], output transform A^T [4, 6].
B_T = np.array([[4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1]], np.float64)
G = np.array([[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]], np.float64)
A_T = np.array([[1, 1, 1, 1, 1, 0],
                [0, 1, -1, 2, -2, 0],
                [0, 1, 1, 4, 4, 0],
                [0, 1, -1, 8, -8, 1]], np.float64)


def _combine(parts: list, matrix: np.ndarray) -> list:
  """[sum_j matrix[i, j] * parts[j] for each row i], skipping zeros and multiplies by +-1.

  The transforms as unrolled additions: XLA fuses them into one loop over the data, where a dot
  with a 6-wide contraction would run at a fraction of the machine's rate.
  """
  out = []
  for row in matrix:
    acc = None
    for coef, part in zip(row, parts):
      if coef == 0:
        continue
      term = part if coef == 1 else -part if coef == -1 else part * float(coef)
      acc = term if acc is None else acc + term
    out.append(acc)
  return out


def transform_kernel(kernel: jax.Array) -> jax.Array:
  """[3, 3, I, O] -> [36, I, O]: G K G^T per channel pair, index 6 * row + column."""
  _, _, i, o = kernel.shape
  g2 = np.kron(G, G)  # [36, 9]: (G K G^T)[p, q] = sum_ij G[p, i] G[q, j] K[i, j]
  flat = kernel.reshape(9, i * o)
  return jnp.dot(jnp.asarray(g2, kernel.dtype), flat,
                 precision=jax.lax.Precision.HIGHEST).reshape(36, i, o)


def transform_input(x: jax.Array) -> jax.Array:
  """[N, 4 * th + 2, 4 * tw + 2, I] (already padded) -> [36, N * th * tw, I]: B^T d B per tile.

  Rows first (strided slices at the tile stride), then columns.
  """
  n, hp, wp, c = x.shape
  th, tw = (hp - 2) // TILE, (wp - 2) // TILE
  rows = _combine([x[:, a:a + TILE * th:TILE] for a in range(WINDOW)], B_T)  # 6 x [N, th, wp, I]
  tiles = []
  for r in rows:
    tiles += _combine([r[:, :, b:b + TILE * tw:TILE] for b in range(WINDOW)], B_T)
  return jnp.stack(tiles).reshape(36, n * th * tw, c)


def transform_output(m: jax.Array, n: int, th: int, tw: int) -> jax.Array:
  """[36, N * th * tw, O] products -> [N, 4 * th, 4 * tw, O]: A^T M A per tile."""
  o = m.shape[-1]
  m = m.reshape(WINDOW, WINDOW, n, th, tw, o)
  rows = _combine([m[a] for a in range(WINDOW)], A_T)  # 4 x [6, N, th, tw, O]
  out = [jnp.stack(_combine([r[b] for b in range(WINDOW)], A_T), axis=-2) for r in rows]
  return jnp.stack(out, axis=2).reshape(n, TILE * th, TILE * tw, o)  # [N, th, 4, tw, 4, O]


def conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """conv(x, kernel) on NHWC / HWIO with stride 1 and zero padding 1, any H and W."""
  n, h, w, _ = x.shape
  th, tw = -(-h // TILE), -(-w // TILE)
  # Pad 1 on the top / left, and up to whole tiles (+1 border) on the bottom / right.
  x = jnp.pad(x, ((0, 0), (1, TILE * th - h + 1), (1, TILE * tw - w + 1), (0, 0)))
  products = jnp.einsum("ptc,pco->pto", transform_input(x), transform_kernel(kernel))
  return transform_output(products, n, th, tw)[:, :h, :w]



def conv3d_3x3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Conv3d (stride 1, zero padding 1) on NDHWC / DHWIO: Winograd over H and W, depth taps direct.

  The depth slices transform like a batch of 2-D maps; one GEMM computes every slice's products
  with all three depth taps' kernels ([tiles, I] x [I, 3 * O], a wider GEMM than one per tap),
  and output slice t sums slice t + k's products with tap k in the transformed domain, so the
  output transform runs once.
  """
  b, d, h, w, c = x.shape
  kd, o = kernel.shape[0], kernel.shape[-1]
  th, tw = -(-h // TILE), -(-w // TILE)
  x = jnp.pad(x, ((0, 0), (1, 1), (1, TILE * th - h + 1), (1, TILE * tw - w + 1), (0, 0)))
  v = transform_input(x.reshape(b * (d + 2), *x.shape[2:]))
  u = transform_kernel(kernel.transpose(1, 2, 3, 0, 4).reshape(3, 3, c, kd * o))
  m = jnp.einsum("ptc,pco->pto", v, u).reshape(36, b, d + 2, th * tw, kd, o)
  m = sum(m[:, :, k:k + d, :, k] for k in range(kd))
  y = transform_output(m.reshape(36, b * d * th * tw, o), b * d, th, tw)[:, :h, :w]
  return y.reshape(b, d, h, w, o)

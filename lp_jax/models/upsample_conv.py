# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A 3x3 conv after a nearest 2x upsample, computed on the low-resolution input.

Output row 2i + a of conv3x3(pad 1) over a nearest-2x map reads upsampled rows 2i + a - 1 ..
2i + a + 1, i.e. low-resolution rows (i - 1, i, i) for a = 0 and (i, i, i + 1) for a = 1: each
output phase is a 2-tap conv on the input with taps (K0, K1 + K2) or (K0 + K1, K2). Per
upsampled axis that is 2 taps instead of 3 on a quarter of the pixels per axis pair, so a 2-D
layer does 16 instead of 36 multiply-adds per input pixel and channel pair (2.25x fewer), and
the four phases stack into one conv with 4x the output channels (a wider GEMM). Zero padding
carries over exactly: the padded upsampled row -1 (or 2H) is the padded low-resolution row -1
(or H). Results equal the direct form up to float32 summation order.

The conv layers taking this form (util.Conv with `upsample_to`, through conv_forms.conv) keep
the stored 3x3 kernel and bias (official layout, the names and shapes of the layer they
replace) and derive the phase kernels from it at apply time. The nearest resizes themselves
(F.interpolate(mode='nearest')) are here too.
"""

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

# Tap-sum matrices [phase a, window tap r, kernel tap k]: phase 0 (K0, K1 + K2), phase 1
# (K0 + K1, K2). Window tap r of phase a reads padded low-resolution row i + a + r.
_PHASE_TAPS = np.array([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]], np.float32)


def upsample_nearest(x: jax.Array, factor: int, axes: Sequence[int]) -> jax.Array:
  """F.interpolate(mode='nearest') by an integer factor: an exact repeat of each element."""
  for axis in axes:
    x = jnp.repeat(x, factor, axis=axis)
  return x


def resize_nearest_2d(x: jax.Array, size: tuple[int, int]) -> jax.Array:
  """F.interpolate(x, size, mode='nearest') over H and W (NHWC or NDHWC): source index
  floor(dst * in / out)."""
  h, w = x.shape[-3:-1]
  oh, ow = size
  if (oh, ow) == (h, w):
    return x
  if oh % h == 0 and ow % w == 0 and oh // h == ow // w:
    return upsample_nearest(x, oh // h, axes=(x.ndim - 3, x.ndim - 2))
  rows = jnp.floor(jnp.arange(oh) * (h / oh)).astype(jnp.int32)
  cols = jnp.floor(jnp.arange(ow) * (w / ow)).astype(jnp.int32)
  return x[..., rows, :, :][..., cols, :]


def upsample_doublings(size: tuple, target: tuple) -> int:
  """k >= 1 where `target` is `size` scaled by 2 ** k on both axes, else 0."""
  (h, w), (th, tw) = size, target
  if th % h or tw % w or th // h != tw // w:
    return 0
  factor = th // h
  return factor.bit_length() - 1 if factor > 1 and factor & (factor - 1) == 0 else 0


def phase_kernel_2d(kernel: jax.Array) -> jax.Array:
  """[3, 3, I, O] -> [2, 2, I, 4 * O]: output channel (a * 2 + b) * O + o is phase (a, b)."""
  m = jnp.asarray(_PHASE_TAPS, kernel.dtype)
  k = jnp.einsum("arh,bsw,hwio->rsiabo", m, m, kernel)
  return k.reshape(2, 2, kernel.shape[2], 4 * kernel.shape[3])


def phase_kernel_3d(kernel: jax.Array) -> jax.Array:
  """[3, 3, 3, I, O] (depth not upsampled) -> [3, 2, 2, I, 4 * O], phases as in 2-D."""
  m = jnp.asarray(_PHASE_TAPS, kernel.dtype)
  k = jnp.einsum("arh,bsw,dhwio->drsiabo", m, m, kernel)
  return k.reshape(3, 2, 2, kernel.shape[3], 4 * kernel.shape[4])


def interleave_phases(y: jax.Array, h: int, w: int) -> jax.Array:
  """[..., h + 1, w + 1, 4 * O] phase outputs -> [..., 2h, 2w, O].

  Phase (a, b) at low-resolution pixel (i, j) sits at y[i + a, j + b] and lands at (2i+a, 2j+b).
  """
  o = y.shape[-1] // 4
  phases = [[y[..., a:a + h, b:b + w, (2 * a + b) * o:(2 * a + b + 1) * o] for b in (0, 1)]
            for a in (0, 1)]
  out = jnp.stack([jnp.stack(row, axis=-2) for row in phases], axis=-4)  # [..., h, 2, w, 2, O]
  return out.reshape(*y.shape[:-3], 2 * h, 2 * w, o)


def upsample2x_conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """conv3x3(upsample_nearest(x, 2), padding 1) on NHWC, without materialising the upsample."""
  _, h, w, _ = x.shape
  y = jax.lax.conv_general_dilated(x, phase_kernel_2d(kernel), (1, 1), [(1, 1), (1, 1)],
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return interleave_phases(y, h, w)

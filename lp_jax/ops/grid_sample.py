# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`torch.nn.functional.grid_sample(align_corners=False, padding_mode='zeros')`, channels-last.

Bilinear (2-D) and trilinear (3-D) interpolation as a gather of whole channel vectors at the
2^n neighbouring cells: one gather per corner, never one per channel. Each corner that falls
outside the input contributes zero on its own (PyTorch's per-corner zero padding), which is what
makes the half-weighted borders of the official "identity" warp come out right.
"""

import itertools
import math

import jax
import jax.numpy as jnp


def unnormalize(coord: jax.Array, size: int) -> jax.Array:
  """[-1, 1] -> pixel index with align_corners=False: -1 and 1 are the outer pixel edges."""
  return ((coord + 1.0) * size - 1.0) / 2.0


def grid_sample(inputs: jax.Array, grid: jax.Array) -> jax.Array:
  """Samples `inputs` at `grid`.

  Args:
    inputs: [N, *spatial, C] with spatial = (H, W) or (D, H, W).
    grid: [N, *out_spatial, n] normalised coordinates, last axis ordered (x, y[, z]), i.e. the
      reverse of the spatial axes, exactly like PyTorch's grid argument.

  Returns:
    [N, *out_spatial, C], in the dtype of `inputs`.
  """
  n = inputs.shape[0]
  spatial = inputs.shape[1:-1]
  channels = inputs.shape[-1]
  ndim = len(spatial)
  if grid.shape[-1] != ndim or grid.shape[0] != n:
    raise ValueError(f"grid {grid.shape} does not match inputs {inputs.shape}")
  out_spatial = grid.shape[1:-1]
  grid = grid.reshape(n, -1, ndim).astype(jnp.float32)
  # Per spatial axis (in array order): continuous index, its floor, and the fractional part.
  pos = [unnormalize(grid[..., ndim - 1 - a], spatial[a]) for a in range(ndim)]
  lo = [jnp.floor(p) for p in pos]
  frac = [p - f for p, f in zip(pos, lo)]
  flat = inputs.reshape(n, -1, channels)
  strides = [math.prod(spatial[a + 1:]) for a in range(ndim)]  # row-major flat index
  out = jnp.zeros((n, grid.shape[1], channels), jnp.float32)
  for corner in itertools.product((0, 1), repeat=ndim):
    weight = jnp.ones_like(pos[0])
    valid = jnp.ones(pos[0].shape, bool)
    index = jnp.zeros(pos[0].shape, jnp.int32)
    for a, offset in enumerate(corner):
      idx = lo[a] + offset
      weight = weight * (frac[a] if offset else 1.0 - frac[a])
      valid &= (idx >= 0) & (idx <= spatial[a] - 1)
      index = index + jnp.clip(idx, 0, spatial[a] - 1).astype(jnp.int32) * strides[a]
    values = jnp.take_along_axis(flat, index[..., None], axis=1, mode="clip")
    out = out + values.astype(jnp.float32) * jnp.where(valid, weight, 0.0)[..., None]
  return out.reshape(n, *out_spatial, channels).astype(inputs.dtype)

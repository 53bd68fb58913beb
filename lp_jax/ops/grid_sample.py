# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`torch.nn.functional.grid_sample(align_corners=False, padding_mode='zeros')`, channels-last.

Bilinear (2-D) and trilinear (3-D) interpolation as a gather of whole channel vectors at the
2^n neighbouring cells: one gather per corner, never one per channel. Each corner that falls
outside the input contributes zero on its own (PyTorch's per-corner zero padding), which is what
makes the half-weighted borders of the official "identity" warp come out right.

`separable_grid_sample` samples at grids that are tensor products of per-axis coordinates (the
dense-motion network's shifted identity grids) with einsums instead of gathers.
"""

import itertools
import math

import jax
import jax.numpy as jnp


def unnormalize(coord: jax.Array, size: int) -> jax.Array:
  """[-1, 1] -> pixel index with align_corners=False: -1 and 1 are the outer pixel edges."""
  return ((coord + 1.0) * size - 1.0) / 2.0


def grid_sample(inputs: jax.Array, grid: jax.Array, per_frame: bool = False,
                batch_shards: int = 1) -> jax.Array:
  """Samples `inputs` at `grid`.

  Args:
    inputs: [N, *spatial, C] with spatial = (H, W) or (D, H, W).
    grid: [N, *out_spatial, n] normalised coordinates, last axis ordered (x, y[, z]), i.e. the
      reverse of the spatial axes, exactly like PyTorch's grid argument.
    per_frame: one gather per frame and corner from that frame's rows, instead of one per corner
      over the whole batch (the same values; `KernelForms.warp_gather_per_frame` says where).
    batch_shards: with `per_frame`, the number of equal blocks the batch is split into over
      devices (`KernelForms.batch_shards`): gather j then takes frame j of every block, one
      per device, so no frame leaves its device (a slice of one frame of a sharded batch lives
      on one device, and XLA would move it). Falls back to 1 when it does not divide the batch.

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
  blocks = batch_shards if n % batch_shards == 0 else 1
  for corner in itertools.product((0, 1), repeat=ndim):
    weight = jnp.ones_like(pos[0])
    valid = jnp.ones(pos[0].shape, bool)
    index = jnp.zeros(pos[0].shape, jnp.int32)
    for a, offset in enumerate(corner):
      idx = lo[a] + offset
      weight = weight * (frac[a] if offset else 1.0 - frac[a])
      valid &= (idx >= 0) & (idx <= spatial[a] - 1)
      index = index + jnp.clip(idx, 0, spatial[a] - 1).astype(jnp.int32) * strides[a]
    if per_frame and blocks > 1:
      values = _per_frame_of_each_block(flat, index, blocks)
    elif per_frame:
      values = jnp.stack([jnp.take(flat[i], index[i], axis=0, mode="clip") for i in range(n)])
    else:
      values = jnp.take_along_axis(flat, index[..., None], axis=1, mode="clip")
    out = out + values.astype(jnp.float32) * jnp.where(valid, weight, 0.0)[..., None]
  return out.reshape(n, *out_spatial, channels).astype(inputs.dtype)


def _per_frame_of_each_block(flat: jax.Array, index: jax.Array, blocks: int) -> jax.Array:
  """flat [N, V, C] at index [N, P] -> [N, P, C], one gather per position j within a block.

  [N] -> [blocks, N / blocks] keeps the device split on the first axis, the loop slices the
  second, which is local; each gather is batched over the blocks, one frame per device."""
  n, rows, channels = flat.shape
  local = n // blocks
  flat = flat.reshape(blocks, local, rows, channels)
  index = index.reshape(blocks, local, -1)
  values = [jnp.take_along_axis(flat[:, j], index[:, j, :, None], axis=1, mode="clip")
            for j in range(local)]
  return jnp.stack(values, axis=1).reshape(n, -1, channels)


def separable_grid_sample(inputs: jax.Array, coords: tuple) -> jax.Array:
  """`grid_sample` at K tensor-product grids, as one interpolation matrix per grid and axis.

  A grid whose coordinate along each axis depends on that axis' output index alone (the
  identity grid shifted by a constant vector, say) makes (bi/tri)linear sampling separable: one
  two-tap interpolation along each axis in turn. Each is an einsum with an [n_out, n_in] matrix
  holding 1 - frac and frac at the two neighbouring cells, which runs on a TPU's or GPU's
  matrix units instead of 2^n gathers. A tap outside the input has no column, so it
  contributes zero on its own, as grid_sample's per-corner zero padding. Same values as
  `grid_sample` at the full grid up to float rounding; computed in float32 at full precision.

  Args:
    inputs: [N, *spatial, C] with spatial = (H, W) or (D, H, W).
    coords: per spatial axis, in array order (D, H, W), the normalised coordinates [N, K, n_out]
      of grid k along that axis (z, y, x of `grid_sample`'s grid).

  Returns:
    [N, K, *out_spatial, C], in the dtype of `inputs`.
  """
  spatial = inputs.shape[1:-1]
  if len(coords) != len(spatial):
    raise ValueError(f"{len(coords)} coordinate axes for inputs {inputs.shape}")
  # einsum letters: input axes d, h, w; output axes D, H, W (the last two for 2-D inputs).
  ins, outs = "dhw"[-len(spatial):], "DHW"[-len(spatial):]
  x, spec = inputs.astype(jnp.float32), "n" + ins + "c"
  for a, (size, c) in enumerate(zip(spatial, coords)):
    pos = unnormalize(c.astype(jnp.float32), size)[..., None]  # [N, K, n_out, 1]
    lo = jnp.floor(pos)
    frac = pos - lo
    cell = jnp.arange(size, dtype=jnp.float32)
    matrix = (jnp.where(cell == lo, 1.0 - frac, 0.0) +
              jnp.where(cell == lo + 1.0, frac, 0.0))  # [N, K, n_out, n_in]
    out_spec = spec.replace(ins[a], outs[a])
    if "k" not in out_spec:
      out_spec = "nk" + out_spec[1:]
    x = jnp.einsum(f"nk{outs[a]}{ins[a]},{spec}->{out_spec}", matrix, x,
                   precision=jax.lax.Precision.HIGHEST)
    spec = out_spec
  return x.astype(inputs.dtype)

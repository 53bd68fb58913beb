# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Random thin-plate-spline warps for the implicit-keypoint equivariance loss.

A warp T maps [-1, 1] (x, y) coordinates to [-1, 1] coordinates: an affine part plus a thin-plate
spline over a regular grid of control points,

  T(p) = A p + b + sum_k w_k U(|p - c_k|),   U(r) = r^2 log r.

`warp_images(images, tps)` samples every output pixel p at T(p) (grid_sample conventions:
align_corners=False), so a point at p in the warped image shows what sits at T(p) in the
original: keypoints of the warped image, mapped through `warp_points`, must land on the
keypoints of the original. At zero perturbation T is the identity and so is the warp.

Points that T sends outside the frame read the frame mirrored at its border (FOMM's
padding_mode='reflection'). With zeros, the black band's shape encodes T, and the motion
extractor can satisfy the equivariance loss by reading the band instead of tracking the face.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lp_jax.ops.grid_sample import grid_sample


class TPS(NamedTuple):
  """Parameters of a batch of warps (a pytree, so it passes through jit)."""
  theta: jax.Array  # [B, 2, 3] affine part (A | b), identity = [[1, 0, 0], [0, 1, 0]]
  control_points: jax.Array  # [P, 2] spline centres c_k in [-1, 1]
  control_params: jax.Array  # [B, P, 2] spline weights w_k, one 2-D vector per centre


def control_grid(points_tps: int) -> jax.Array:
  """[points_tps^2, 2] regular grid of (x, y) control points spanning [-1, 1]."""
  axis = jnp.linspace(-1.0, 1.0, points_tps)
  y, x = jnp.meshgrid(axis, axis, indexing="ij")
  return jnp.stack([x.reshape(-1), y.reshape(-1)], axis=-1)


def identity_tps(batch: int, points_tps: int = 5) -> TPS:
  theta = jnp.broadcast_to(jnp.eye(2, 3, dtype=jnp.float32), (batch, 2, 3))
  return TPS(theta, control_grid(points_tps), jnp.zeros((batch, points_tps ** 2, 2)))


def random_tps(rng: jax.Array, batch: int, sigma_affine: float = 0.05, sigma_tps: float = 0.005,
               points_tps: int = 5) -> TPS:
  """Random warps: gaussian perturbations of the identity affine and of the spline weights.

  The default magnitudes are face-vid2vid's (a few percent of the frame).
  """
  k_affine, k_tps = jax.random.split(rng)
  base = identity_tps(batch, points_tps)
  theta = base.theta + sigma_affine * jax.random.normal(k_affine, (batch, 2, 3))
  params = sigma_tps * jax.random.normal(k_tps, (batch, points_tps ** 2, 2))
  return TPS(theta, base.control_points, params)


def _radial_basis(sq_dist):
  """U(r) = r^2 log r = 0.5 r^2 log r^2, written on r^2 so that r = 0 has a finite gradient."""
  return 0.5 * sq_dist * jnp.log(sq_dist + 1e-9)


def warp_points(tps: TPS, points: jax.Array) -> jax.Array:
  """T(points): [B, N, 2] (x, y) -> [B, N, 2]."""
  theta = tps.theta.astype(jnp.float32)
  out = jnp.einsum("bij,bnj->bni", theta[:, :, :2], points) + theta[:, None, :, 2]
  diff = points[:, :, None, :] - tps.control_points[None, None]  # [B, N, P, 2]
  basis = _radial_basis(jnp.sum(jnp.square(diff), axis=-1))  # [B, N, P]
  return out + jnp.einsum("bnp,bpi->bni", basis, tps.control_params)


def pixel_grid(height: int, width: int) -> jax.Array:
  """[H, W, 2] (x, y) centres of the pixels in grid_sample's [-1, 1] (align_corners=False)."""
  x = (2 * jnp.arange(width, dtype=jnp.float32) + 1) / width - 1
  y = (2 * jnp.arange(height, dtype=jnp.float32) + 1) / height - 1
  gy, gx = jnp.meshgrid(y, x, indexing="ij")
  return jnp.stack([gx, gy], axis=-1)


def reflect_coordinates(coords: jax.Array) -> jax.Array:
  """Folds [-1, 1] coordinates back into the frame by mirroring at its edges (period 4)."""
  return 1.0 - jnp.abs(jnp.mod(coords + 1.0, 4.0) - 2.0)


def warp_images(images: jax.Array, tps: TPS) -> jax.Array:
  """[B, H, W, C] -> [B, H, W, C], output pixel p sampled (bilinear) at T(p), mirrored at the
  frame's edges."""
  b, h, w, _ = images.shape
  grid = jnp.broadcast_to(pixel_grid(h, w).reshape(1, h * w, 2), (b, h * w, 2))
  coords = reflect_coordinates(warp_points(tps, grid)).reshape(b, h, w, 2)
  return grid_sample(images, coords.astype(images.dtype))

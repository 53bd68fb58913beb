# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Non-learned keypoint math (official `camera.py`, `util.py`, `live_portrait_wrapper.py`).

Keypoints are [B, K, 3] row vectors (x -> width, y -> height, z -> depth); rotations act on the
right (x @ R), with R the transposed (Rz Ry Rx) the official code returns.
"""

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

NUM_BINS = 66


def headpose_pred_to_degree(logits: jax.Array) -> jax.Array:
  """[B, 66] bin logits -> [B] degrees: softmax expectation of the bin index, * 3 - 97.5."""
  prob = jax.nn.softmax(logits.astype(jnp.float32), axis=1)
  idx = jnp.arange(logits.shape[1], dtype=jnp.float32)
  return jnp.sum(prob * idx, axis=1) * 3 - 97.5


def get_rotation_matrix(pitch, yaw, roll) -> jax.Array:
  """Degrees ([B] or [B, 1]) -> [B, 3, 3] = (Rz @ Ry @ Rx)^T, applied as x @ R."""
  # The barrier keeps `/ 180 * pi` two roundings inside a jitted program, as eager (and the
  # official) code computes it: XLA would fold them into one multiply by pi / 180.
  x, y, z = (lax.optimization_barrier(jnp.reshape(a, (-1,)).astype(jnp.float32) / 180) * np.pi
             for a in (pitch, yaw, roll))
  one, zero = jnp.ones_like(x), jnp.zeros_like(x)

  def mat(rows):
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)

  rot_x = mat([[one, zero, zero], [zero, jnp.cos(x), -jnp.sin(x)], [zero, jnp.sin(x), jnp.cos(x)]])
  rot_y = mat([[jnp.cos(y), zero, jnp.sin(y)], [zero, one, zero], [-jnp.sin(y), zero, jnp.cos(y)]])
  rot_z = mat([[jnp.cos(z), -jnp.sin(z), zero], [jnp.sin(z), jnp.cos(z), zero], [zero, zero, one]])
  rot = rot_z @ rot_y @ rot_x
  return jnp.swapaxes(rot, 1, 2)


def refine_kp_info(raw: dict, num_kp: int = 21) -> dict:
  """Raw motion-extractor heads -> degrees [B, 1] and [B, K, 3] keypoints / expressions."""
  b = raw["kp"].shape[0]
  info = dict(raw)
  for k in ("pitch", "yaw", "roll"):
    info[k] = headpose_pred_to_degree(raw[k])[:, None]
  info["kp"] = raw["kp"].reshape(b, num_kp, 3)
  info["exp"] = raw["exp"].reshape(b, num_kp, 3)
  return info


def with_rotation(info: dict) -> dict:
  """A copy of refined motion `info` with its rotation matrix "R" [B, 3, 3] added (x @ R)."""
  return {**info, "R": get_rotation_matrix(info["pitch"], info["yaw"], info["roll"])}


def apply_motion(canonical, info: dict) -> jax.Array:
  """Eq. 2 with the motion of `info` (with R, see with_rotation) on `canonical` keypoints."""
  return transform_keypoint(canonical, info["R"], info["exp"], info["scale"], info["t"])


def transform_keypoint(kp, rot, exp, scale, t):
  """Paper Eq. 2: x = s * (x_c @ R + delta) + (tx, ty, 0), batched over [B]; NumPy or JAX.

  tz never moves a keypoint (the official code zeroes it). JAX adds (tx, ty) as an indexed
  update; NumPy callers (the source-video path smooths its sequences in NumPy) add a zeroed tz,
  which gives the same sums.
  """
  x = (kp @ rot + exp) * scale[..., None]
  if isinstance(x, jax.Array):  # also under jit: a tracer is a jax.Array
    return x.at[..., 0:2].add(t[:, None, 0:2])
  return x + (t * np.array([1.0, 1.0, 0.0], np.float32))[:, None, :]


def relative_rotation(rot_d, rot_d0, rot_s):
  """R_d R_d0^T R_s: the source pose moved by the driving pose change since the first frame."""
  return rot_d @ rot_d0.swapaxes(-1, -2) @ rot_s


def transform_kp_info(info: dict) -> jax.Array:
  rot = get_rotation_matrix(info["pitch"], info["yaw"], info["roll"])
  return transform_keypoint(info["kp"], rot, info["exp"], info["scale"], info["t"])


def coordinate_axis(n: int) -> jax.Array:
  """[n] the coordinates of one axis of `make_coordinate_grid`: -1 to +1, endpoints exact."""
  # A host constant, rounded like PyTorch's float32 x / (n - 1): XLA would turn the division by
  # a constant into a multiply by its reciprocal, 1 ulp off (+1 -> 1.0000001).
  return jnp.asarray(2 * (np.arange(n, dtype=np.float32) / np.float32(n - 1)) - 1)


def make_coordinate_grid(spatial_size) -> jax.Array:
  """(D, H, W) -> [D, H, W, 3] grid with (x, y, z) last and exact -1 / +1 endpoints."""
  d, h, w = spatial_size
  z, y, x = jnp.meshgrid(coordinate_axis(d), coordinate_axis(h), coordinate_axis(w),
                         indexing="ij")
  return jnp.stack([x, y, z], axis=-1)


def kp2gaussian(kp, spatial_size, kp_variance: float = 0.01) -> jax.Array:
  """[B, K, 3] -> [B, K, D, H, W] unnormalised gaussians exp(-0.5 |g - kp|^2 / variance)."""
  grid = make_coordinate_grid(spatial_size)  # [D, H, W, 3]
  diff = grid[None, None] - kp[:, :, None, None, None, :]
  return jnp.exp(-0.5 * jnp.sum(jnp.square(diff), axis=-1) / kp_variance)

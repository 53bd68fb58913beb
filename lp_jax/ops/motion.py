# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Driving-keypoint assembly, stitching and retargeting (official `live_portrait_pipeline.py`).

All functions are jittable and batched over frames: `info` dicts hold `kp`, `exp` [B, K, 3],
`scale` [B, 1], `t` [B, 3] and rotations `R` [B, 3, 3] (row-vector convention, x @ R).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lp_jax.ops import keypoints
from lp_jax.ops.hull import convex_hull_volume

REGIONS = ("all", "exp", "pose", "lip", "eyes")
LIP_IDX = (6, 12, 14, 17, 19, 20)
EYES_IDX = (11, 13, 15, 16, 18)
# Entries of the expression that absolute "exp" driving copies (the rest keep the source's).
EXP_FULL_IDX = (1, 2, 6, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
EXP_PARTIAL = {3: (1,), 4: (1,), 5: (2,), 8: (2,), 9: (1, 2)}  # kp -> copied xyz components


def _row_mask(rows, num_kp: int = 21) -> np.ndarray:
  mask = np.zeros((num_kp, 3), bool)
  mask[list(rows)] = True
  return mask


def absolute_exp_mask(num_kp: int = 21) -> np.ndarray:
  mask = _row_mask(EXP_FULL_IDX, num_kp)
  for kp, comps in EXP_PARTIAL.items():
    mask[kp, list(comps)] = True
  return mask


def region_masks(region: str, relative: bool, num_kp: int = 21):
  """(expression entries taken from the driving side [K, 3], drive pose?, drive scale?)."""
  if region not in REGIONS:
    raise ValueError(f"animation region {region!r} is not one of {REGIONS}")
  if region in ("all", "exp"):
    exp_mask = np.ones((num_kp, 3), bool) if relative else absolute_exp_mask(num_kp)
  elif region == "lip":
    exp_mask = _row_mask(LIP_IDX, num_kp)
  elif region == "eyes":
    exp_mask = _row_mask(EYES_IDX, num_kp)
  else:
    exp_mask = np.zeros((num_kp, 3), bool)
  return exp_mask, region in ("all", "pose"), region == "all"


# Jitted: a stream assembles every batch's keypoints, and op by op this is dozens of dispatches.
@functools.partial(jax.jit, static_argnames=("relative", "region"))
def driving_keypoints(src: dict, drv: dict, drv0: dict, *, relative: bool = True,
                      region: str = "all", exp_anchor=None) -> jnp.ndarray:
  """x_d for every driving frame (image source, video / template driving; paper Eq. 2).

  Args:
    src: source info with `kp`, `exp`, `scale`, `t`, `R` of batch 1.
    drv: driving info of the frames [T, ...], with `R`.
    drv0: driving info of the first driving frame (relative motion is measured from it).
    relative: relative (default) or absolute motion transfer.
    region: 'all', 'exp', 'pose', 'lip' or 'eyes'.
    exp_anchor: the expression relative motion is measured from; default drv0's. The official
      image-driven mode uses the neutral `lip_array` (zeros for the eyes region).

  Returns:
    [T, K, 3] driving keypoints, before stitching and retargeting.
  """
  exp_mask, drive_pose, drive_scale = region_masks(region, relative, src["exp"].shape[1])
  if relative:
    rot = keypoints.relative_rotation(drv["R"], drv0["R"], src["R"])
    anchor = drv0["exp"] if exp_anchor is None else exp_anchor
    exp_drv = src["exp"] + (drv["exp"] - anchor)
    scale = src["scale"] * (drv["scale"] / drv0["scale"])
    t = src["t"] + (drv["t"] - drv0["t"])
  else:
    rot, exp_drv, scale, t = drv["R"], drv["exp"], src["scale"], drv["t"]
  frames = drv["exp"].shape[0]
  rot = rot if drive_pose else jnp.broadcast_to(src["R"], (frames, 3, 3))
  exp = jnp.where(exp_mask, exp_drv, src["exp"])
  scale = scale if drive_scale else jnp.broadcast_to(src["scale"], (frames, 1))
  t = t if drive_pose else jnp.broadcast_to(src["t"], (frames, 3))
  return keypoints.transform_keypoint(src["kp"], rot, exp, scale, t)


def motion_multiplier(x_s: np.ndarray, x_d0: np.ndarray) -> float:
  """Expression-friendly normalisation: sqrt of the ratio of 3-D convex-hull volumes.

  A stream computes it for every batch from the same x_s and first driving frame, and a hull
  takes tens of milliseconds: results are remembered per (x_s, x_d0).
  """
  points = lambda x: np.asarray(x)[0].astype(np.float64)
  return _multiplier(points(x_s).tobytes(), points(x_d0).tobytes())


@functools.lru_cache(maxsize=32)
def _multiplier(x_s: bytes, x_d0: bytes) -> float:
  hull = lambda b: convex_hull_volume(np.frombuffer(b, np.float64).reshape(-1, 3))
  return float(np.sqrt(hull(x_s)) / np.sqrt(hull(x_d0)))


def expression_friendly(x_d: jnp.ndarray, x_s: jnp.ndarray, x_d0: jnp.ndarray,
                        multiplier: float) -> jnp.ndarray:
  """x_d <- (x_d - x_d0) * mm + x_s, the official expression-friendly driving option."""
  return (x_d - x_d0) * multiplier + x_s


def apply_stitching(x_d: jnp.ndarray, delta: jnp.ndarray) -> jnp.ndarray:
  """Adds the stitching MLP output [B, 3K + 2]: a per-keypoint offset and a shared (tx, ty)."""
  b, k, _ = x_d.shape
  x = x_d + delta[:, : 3 * k].reshape(b, k, 3)
  return x.at[..., 0:2].add(delta[:, None, 3 * k: 3 * k + 2])


def stitching_input(x_s: jnp.ndarray, x_d: jnp.ndarray) -> jnp.ndarray:
  """[B, 6K] = concat(x_s, x_d) flattened kp-major, xyz-minor; x_s broadcast over B."""
  b = x_d.shape[0]
  return jnp.concatenate([jnp.broadcast_to(x_s, x_d.shape).reshape(b, -1), x_d.reshape(b, -1)],
                         axis=1)


def retarget_input(x_s: jnp.ndarray, condition: jnp.ndarray) -> jnp.ndarray:
  """[B, 3K + n] = concat(x_s flattened, ratio condition [B, n])."""
  b = condition.shape[0]
  return jnp.concatenate([jnp.broadcast_to(x_s, (b,) + x_s.shape[1:]).reshape(b, -1), condition],
                         axis=1)


def apply_driving_multiplier(x_d: jnp.ndarray, x_s: jnp.ndarray, multiplier: float):
  """x_s + (x_d - x_s) * multiplier: applied last, in every mode."""
  return x_s + (x_d - x_s) * multiplier

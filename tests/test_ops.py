# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Unit tests of the non-learned ops (lp_jax.ops), against PyTorch or the paper's formulas.

Covers `grid_sample` (values, the half-weighted identity warp, grid gradients), the keypoint
math, driving-keypoint assembly, the convex-hull volume, the bilinear resize and fixed-shape
batching. The layers of lp_jax.models are tested in test_model_util.py, test_convnextv2.py and
test_spade_generator.py.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import layer_checks
from layer_checks import max_err as _max_err
from layer_checks import nc_last as _nc_last
from lp_jax.aot import hlo
from lp_jax.ops import batching, hull, keypoints, motion, resize
from lp_jax.ops.grid_sample import grid_sample

torch = layer_checks.torch  # the shared pytest fixture (skips without torch)


# Eager JAX compiles each primitive on its own (seconds per test here); one jit is much faster.
grid_sample_jit = jax.jit(grid_sample, static_argnums=(2, 3))
headpose_pred_to_degree = jax.jit(keypoints.headpose_pred_to_degree)
get_rotation_matrix = jax.jit(keypoints.get_rotation_matrix)
make_coordinate_grid = jax.jit(keypoints.make_coordinate_grid, static_argnums=0)
kp2gaussian = jax.jit(keypoints.kp2gaussian, static_argnums=(1, 2))
transform_keypoint = jax.jit(keypoints.transform_keypoint)
driving_keypoints = jax.jit(motion.driving_keypoints, static_argnames=("relative", "region"))


# --------------------------------------------------------------------------------------------
# grid_sample


GRID_CASES = {  # name -> (input shape NC..., output spatial shape)
    "2d": ((4, 3, 5, 7), (4, 6)),
    "3d": ((4, 4, 3, 5, 6), (2, 3, 4)),
}


def _grid_case(name, seed=0):
  """Random inputs (NC...) and a grid spanning [-1.3, 1.3] with exact +-1 border points."""
  in_shape, out_spatial = GRID_CASES[name]
  n, ndim = in_shape[0], len(in_shape) - 2
  rng = np.random.default_rng(seed)
  x = rng.standard_normal(in_shape).astype(np.float32)
  grid = rng.uniform(-1.3, 1.3, (n, *out_spatial, ndim)).astype(np.float32)
  flat = grid.reshape(n, -1, ndim)
  corners = np.array(list(itertools.product((-1.0, 1.0), repeat=ndim)), np.float32)
  flat[0, :len(corners)] = corners  # every corner of the normalised cube, exactly
  for a in range(ndim):  # one coordinate exactly on a border, the others inside
    flat[1, 2 * a, a] = -1.0
    flat[1, 2 * a + 1, a] = 1.0
    for b in range(ndim):
      if b != a:
        flat[1, 2 * a:2 * a + 2, b] = rng.uniform(-0.9, 0.9, 2)
  return x, flat.reshape(grid.shape)


# (per_frame, batch_shards): one gather over the batch; one per frame
# (KernelForms.warp_gather_per_frame); one per position in each of 2 blocks of the batch (a
# batch split over 2 devices, KernelForms.batch_shards); 3 blocks do not divide 4 frames.
GATHER_FORMS = [(False, 1), (True, 1), (True, 2), (True, 3)]


@pytest.mark.parametrize("per_frame,batch_shards", GATHER_FORMS)
@pytest.mark.parametrize("name", sorted(GRID_CASES))
def test_grid_sample_matches_torch(torch, name, per_frame, batch_shards):
  x, grid = _grid_case(name)
  ref = torch.nn.functional.grid_sample(torch.from_numpy(x), torch.from_numpy(grid),
                                        mode="bilinear", padding_mode="zeros",
                                        align_corners=False).numpy()
  out = grid_sample_jit(jnp.asarray(_nc_last(x)), jnp.asarray(grid), per_frame, batch_shards)
  assert out.shape == _nc_last(ref).shape
  assert out.dtype == jnp.float32
  assert _max_err(out, _nc_last(ref)) <= 1e-6
  # The case must really reach outside the input (zero-padded corners) and the exact borders.
  assert np.any(np.abs(grid) > 1.0) and np.any(np.abs(grid) == 1.0)


@pytest.mark.parametrize("per_frame,batch_shards", GATHER_FORMS)
@pytest.mark.parametrize("name", sorted(GRID_CASES))
def test_grid_sample_gradients_match_torch(torch, name, per_frame, batch_shards):
  """Both gradients: the grid's (to the keypoints) and the input's (the gathers' transposes,
  scatter-adds, to F's features in training)."""
  x, grid = _grid_case(name, seed=1)
  x_t, grid_t = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
  out_t = torch.nn.functional.grid_sample(x_t, grid_t, mode="bilinear", padding_mode="zeros",
                                          align_corners=False)
  weights = np.random.default_rng(2).standard_normal(out_t.shape).astype(np.float32)
  (out_t * torch.from_numpy(weights)).sum().backward()
  loss = lambda x, g: jnp.sum(grid_sample(x, g, per_frame, batch_shards) *
                              jnp.asarray(_nc_last(weights)))
  grad_x, grad_g = jax.jit(jax.grad(loss, argnums=(0, 1)))(jnp.asarray(_nc_last(x)),
                                                           jnp.asarray(grid))
  ref_x, ref_g = _nc_last(x_t.grad.numpy()), grid_t.grad.numpy()
  assert np.abs(ref_g).max() > 1.0 and np.abs(ref_x).max() > 1.0  # non-trivial gradients
  assert _max_err(grad_g, ref_g) <= 1e-5
  assert _max_err(grad_x, ref_x) <= 1e-5


@pytest.mark.parametrize("batch_shards,moves", [(1, True), (8, False)])
def test_per_frame_gathers_of_a_sharded_batch_stay_on_their_devices(batch_shards, moves):
  """8 CPU devices, 16 frames split over them as training splits its batch: per-frame gathers
  over the whole batch slice frames off their devices (XLA moves them, forward and backward);
  per position within each device's block, nothing moves."""
  assert len(jax.devices()) >= 8
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:8]), ("data",))
  split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  x = jax.ShapeDtypeStruct((16, 4, 6, 6, 8), jnp.float32, sharding=split)
  grid = jax.ShapeDtypeStruct((16, 4, 6, 6, 3), jnp.float32, sharding=split)

  def loss(x, grid):
    return jnp.sum(jnp.tanh(grid_sample(x, grid, True, batch_shards)), axis=(1, 2, 3, 4))

  step = jax.jit(jax.grad(lambda x, g: jnp.sum(loss(x, g)), argnums=(0, 1)),
                 in_shardings=split, out_shardings=split)
  comm = hlo.collectives(step.lower(x, grid).compile().as_text())
  moved = {k for k in comm if k != "all-reduce"}  # the loss' sum is an all-reduce either way
  assert bool(moved) == moves, comm


def _identity_warp_matrix(n):
  """Spec: the +-1 endpoint grid samples index i * n / (n - 1) - 0.5; outside cells are zero."""
  pos = np.arange(n) * n / (n - 1) - 0.5
  return np.maximum(0.0, 1.0 - np.abs(pos[:, None] - np.arange(n)[None, :]))


def test_grid_sample_identity_warp_half_weighted_borders():
  d, h, w = 4, 5, 6
  x = np.random.default_rng(2).uniform(0.5, 1.5, (1, d, h, w, 2)).astype(np.float32)
  out = np.asarray(grid_sample_jit(jnp.asarray(x), make_coordinate_grid((d, h, w))[None]))
  ref = np.einsum("ai,bj,ck,nijkz->nabcz", *(_identity_warp_matrix(n) for n in (d, h, w)),
                  x.astype(np.float64))
  assert _max_err(out, ref) <= 1e-6
  for corner in itertools.product((0, -1), repeat=3):  # half weight on each of the 3 axes
    np.testing.assert_allclose(out[(0, *corner)], 0.125 * x[(0, *corner)], rtol=1e-6)
  assert abs(out[0, 1, 2, 3, 0] - x[0, 1, 2, 3, 0]) > 1e-3  # not the identity inside either


def test_grid_sample_rejects_mismatched_grid():
  with pytest.raises(ValueError):
    grid_sample(jnp.zeros((1, 4, 4, 2)), jnp.zeros((1, 3, 3, 3)))
  with pytest.raises(ValueError):
    grid_sample(jnp.zeros((1, 4, 4, 2)), jnp.zeros((2, 3, 3, 2)))


# --------------------------------------------------------------------------------------------
# keypoints


def test_headpose_pred_to_degree():
  logits = np.full((4, keypoints.NUM_BINS), -1e4, np.float32)
  logits[0] = 3.0  # uniform: the mean bin 32.5 is 0 degrees
  logits[1, 32] = logits[2, 65] = 0.0  # all mass on one bin
  logits[3, [10, 20]] = 0.0  # half on bin 10, half on bin 20: bin 15
  np.testing.assert_allclose(headpose_pred_to_degree(logits), [0.0, -1.5, 97.5, -52.5],
                             rtol=0, atol=1e-4)


def _rotation_ref(pitch, yaw, roll):
  """(Rz Ry Rx)^T from the official camera.py formulas, float64."""
  x, y, z = np.deg2rad([pitch, yaw, roll])
  rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
  ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
  rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
  return (rz @ ry @ rx).T


def test_get_rotation_matrix():
  rng = np.random.default_rng(3)
  angles = rng.uniform(-90, 90, (3, 6)).astype(np.float32)
  angles[:, 0] = 0.0
  angles[:, 1] = [90.0, -90.0, 45.0]
  rot = np.asarray(get_rotation_matrix(*angles))
  ref = np.stack([_rotation_ref(*a) for a in angles.T])
  assert rot.shape == (6, 3, 3)
  assert _max_err(rot, ref) <= 1e-6
  np.testing.assert_allclose(rot[0], np.eye(3), atol=1e-7)
  np.testing.assert_allclose(rot @ np.swapaxes(rot, 1, 2), np.broadcast_to(np.eye(3), rot.shape),
                             atol=1e-6)
  np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-6)
  # [B, 1] degrees (what refine_kp_info produces) give the same matrices.
  rot_col = get_rotation_matrix(*(a[:, None] for a in angles))
  np.testing.assert_array_equal(rot_col, rot)
  # Pitch alone: the row vector (0, 1, 0) @ Rx^T is column 1 of Rx, (0, cos, sin).
  pitch = np.asarray(get_rotation_matrix(jnp.array([30.0]), jnp.zeros(1), jnp.zeros(1)))[0]
  c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
  np.testing.assert_allclose(np.array([0.0, 1.0, 0.0]) @ pitch, [0, c, s], atol=1e-6)


def test_make_coordinate_grid():
  grid = np.asarray(make_coordinate_grid((16, 64, 64)))
  assert grid.shape == (16, 64, 64, 3)
  np.testing.assert_allclose(grid[1, 2, 3], [-0.904762, -0.936508, -0.866667], atol=1e-6)
  np.testing.assert_array_equal(grid[0, 0, 0], [-1, -1, -1])
  np.testing.assert_array_equal(grid[-1, -1, -1], [1, 1, 1])


def test_make_coordinate_grid_bit_exact_with_torch_under_jit(torch):
  """The official `2 * (arange(n) / (n - 1)) - 1` in float32, to the last bit, jitted or not."""
  shape = (16, 64, 64)
  axes = [2 * (torch.arange(n).float() / (n - 1)) - 1 for n in shape]
  z, y, x = torch.meshgrid(*axes, indexing="ij")
  ref = torch.stack([x, y, z], dim=-1).numpy()
  np.testing.assert_array_equal(make_coordinate_grid(shape), ref)
  np.testing.assert_array_equal(keypoints.make_coordinate_grid(shape), ref)


def test_kp2gaussian():
  spatial = (4, 5, 6)
  grid = np.asarray(make_coordinate_grid(spatial))
  kp = np.stack([grid[1, 2, 3], grid[3, 0, 5], [0.05, -0.1, 0.2]])[None].astype(np.float32)
  heat = np.asarray(kp2gaussian(jnp.asarray(kp), spatial, 0.01))
  assert heat.shape == (1, 3, *spatial)
  assert heat[0, 0, 1, 2, 3] == 1.0 and heat[0, 1, 3, 0, 5] == 1.0
  assert heat[0, 0].max() == 1.0 and np.sum(heat[0, 0] == 1.0) == 1
  ref = np.exp(-0.5 * np.sum((grid[None] - kp[0, :, None, None, None]) ** 2, axis=-1) / 0.01)
  np.testing.assert_allclose(heat[0], ref, rtol=1e-5, atol=1e-30)


def test_transform_keypoint_formula_and_ignores_tz():
  rng = np.random.default_rng(4)
  kp = rng.standard_normal((2, 21, 3)).astype(np.float32)
  exp = 0.1 * rng.standard_normal((2, 21, 3)).astype(np.float32)
  scale = rng.uniform(0.5, 2.0, (2, 1)).astype(np.float32)
  t = rng.standard_normal((2, 3)).astype(np.float32)
  rot = np.asarray(get_rotation_matrix(*rng.uniform(-40, 40, (3, 2))))
  out = np.asarray(transform_keypoint(jnp.asarray(kp), rot, exp, scale, t))
  ref = scale[:, :, None] * (kp @ rot + exp) + np.concatenate([t[:, :2], 0 * t[:, 2:]], 1)[:, None]
  assert _max_err(out, ref) <= 1e-5
  t_other = t.copy()
  t_other[:, 2] += 5.0
  np.testing.assert_array_equal(
      transform_keypoint(jnp.asarray(kp), rot, exp, scale, t_other), out)


# --------------------------------------------------------------------------------------------
# motion


def test_apply_stitching():
  rng = np.random.default_rng(5)
  x_d = rng.standard_normal((2, 21, 3)).astype(np.float32)
  delta = rng.standard_normal((2, 65)).astype(np.float32)
  ref = x_d + delta[:, :63].reshape(2, 21, 3)
  ref[..., 0] += delta[:, 63:64]
  ref[..., 1] += delta[:, 64:65]
  np.testing.assert_allclose(motion.apply_stitching(jnp.asarray(x_d), jnp.asarray(delta)), ref,
                             rtol=0, atol=1e-6)


def _info(rng, batch):
  """A random kp-info dict of jax float32 arrays, with its rotation `R`."""
  angles = rng.uniform(-30, 30, (3, batch)).astype(np.float32)
  return dict(kp=jnp.asarray(rng.normal(0, 0.3, (batch, 21, 3)), jnp.float32),
              exp=jnp.asarray(rng.normal(0, 0.05, (batch, 21, 3)), jnp.float32),
              scale=jnp.asarray(rng.uniform(0.8, 1.2, (batch, 1)), jnp.float32),
              t=jnp.asarray(rng.normal(0, 0.2, (batch, 3)), jnp.float32),
              R=get_rotation_matrix(*angles))


def _np(info):
  return {k: np.asarray(v, np.float64) for k, v in info.items()}


def _frames(info, frames):
  return {k: jnp.repeat(v, frames, axis=0) for k, v in info.items()}


def _x(kp, rot, exp, scale, t):
  """s * (kp @ R + exp) + (tx, ty, 0), float64, broadcast over frames."""
  t = np.array(t, np.float64)
  t[..., 2] = 0.0
  return np.asarray(scale, np.float64)[..., None] * (kp @ np.asarray(rot, np.float64) + exp) + \
      t[:, None, :]


@pytest.mark.parametrize("region", motion.REGIONS)
def test_driving_keypoints_unmoved_driving_reproduces_source(region):
  src = _info(np.random.default_rng(6), 1)
  drv = _frames(src, 3)
  x_d = driving_keypoints(src, drv, src, relative=True, region=region)
  x_s = transform_keypoint(src["kp"], src["R"], src["exp"], src["scale"], src["t"])
  assert x_d.shape == (3, 21, 3)
  np.testing.assert_allclose(x_d, np.broadcast_to(x_s, x_d.shape), rtol=0, atol=2e-6)


def test_driving_keypoints_absolute_exp_copies_only_listed_components():
  rng = np.random.default_rng(7)
  src, drv, drv0 = _info(rng, 1), _info(rng, 2), _info(rng, 1)
  s, d = _np(src), _np(drv)
  # The official absolute "exp" copy, written out as in live_portrait_pipeline.py.
  delta = np.repeat(s["exp"], 2, axis=0)
  for idx in (1, 2, 6, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20):
    delta[:, idx, :] = d["exp"][:, idx, :]
  delta[:, 3:5, 1] = d["exp"][:, 3:5, 1]
  delta[:, 5, 2] = d["exp"][:, 5, 2]
  delta[:, 8, 2] = d["exp"][:, 8, 2]
  delta[:, 9, 1:] = d["exp"][:, 9, 1:]
  out = np.asarray(driving_keypoints(src, drv, drv0, relative=False, region="exp"))
  ref = _x(s["kp"], s["R"], delta, s["scale"], s["t"])  # pose and scale stay the source's
  assert _max_err(out, ref) <= 2e-6
  x_s = np.broadcast_to(_x(s["kp"], s["R"], s["exp"], s["scale"], s["t"]), out.shape)
  x_all_drv = _x(s["kp"], s["R"], d["exp"], s["scale"], s["t"])
  for kp, comp in [(0, 0), (0, 1), (0, 2), (7, 0), (7, 1), (7, 2), (10, 0), (10, 1), (10, 2),
                   (3, 0), (3, 2)]:
    np.testing.assert_allclose(out[:, kp, comp], x_s[:, kp, comp], atol=2e-6)
    assert np.all(np.abs(out[:, kp, comp] - x_all_drv[:, kp, comp]) > 1e-4)
  for kp, comp in [(3, 1), (9, 1), (9, 2), (1, 0), (20, 2)]:  # these do follow the driving
    np.testing.assert_allclose(out[:, kp, comp], x_all_drv[:, kp, comp], atol=2e-6)


def test_driving_keypoints_all_regions_against_formulas():
  """Relative and absolute motion for every region, from the official pipeline's formulas."""
  rng = np.random.default_rng(8)
  src, drv, drv0 = _info(rng, 1), _info(rng, 2), _info(rng, 1)
  s, d, d0 = _np(src), _np(drv), _np(drv0)
  x_s = _x(s["kp"], s["R"], s["exp"], s["scale"], s["t"])
  rel_rot = d["R"] @ np.swapaxes(d0["R"], 1, 2) @ s["R"]
  for relative, region in itertools.product((True, False), motion.REGIONS):
    exp = np.repeat(s["exp"], 2, axis=0)
    exp_drv = s["exp"] + d["exp"] - d0["exp"] if relative else d["exp"]
    rows = {"lip": list(motion.LIP_IDX), "eyes": list(motion.EYES_IDX)}.get(region)
    if rows is not None:
      exp[:, rows] = exp_drv[:, rows]
    elif region in ("all", "exp"):
      exp = np.where(motion.absolute_exp_mask() | relative, exp_drv, exp)
    posed = region in ("all", "pose")
    rot = (rel_rot if relative else d["R"]) if posed else s["R"]
    t = (s["t"] + d["t"] - d0["t"] if relative else d["t"]) if posed else s["t"]
    scale = s["scale"] * d["scale"] / d0["scale"] if relative and region == "all" else s["scale"]
    ref = _x(s["kp"], np.broadcast_to(rot, (2, 3, 3)), exp, np.broadcast_to(scale, (2, 1)),
             np.broadcast_to(t, (2, 3)))
    out = np.asarray(driving_keypoints(src, drv, drv0, relative=relative, region=region))
    assert out.shape == (2, 21, 3)
    assert _max_err(out, ref) <= 2e-6, (relative, region)
    if rows is not None:  # lip / eyes: every other row is the source's
      others = [k for k in range(21) if k not in rows]
      np.testing.assert_allclose(out[:, others], np.broadcast_to(x_s, out.shape)[:, others],
                                 rtol=0, atol=2e-6)
      assert np.all(np.abs(out[:, rows] - x_s[:, rows]).max(-1) > 1e-4)
  with pytest.raises(ValueError):
    motion.driving_keypoints(src, drv, drv0, region="mouth")


@pytest.mark.parametrize("relative", [True, False])
@pytest.mark.parametrize("region", ["all", "pose"])
def test_driving_keypoints_tz_never_moves_keypoints(relative, region):
  rng = np.random.default_rng(9)
  infos = [_info(rng, 1), _info(rng, 2), _info(rng, 1)]
  base = driving_keypoints(*infos, relative=relative, region=region)
  for info in infos:
    info["t"] = info["t"].at[:, 2].add(rng.uniform(1.0, 3.0, info["t"].shape[0]))
  moved = driving_keypoints(*infos, relative=relative, region=region)
  np.testing.assert_array_equal(moved, base)
  # ... while tx does move them.
  infos[1]["t"] = infos[1]["t"].at[:, 0].add(0.5)
  shifted = driving_keypoints(*infos, relative=relative, region=region)
  np.testing.assert_allclose(shifted[..., 0] - base[..., 0], 0.5, atol=1e-6)
  np.testing.assert_allclose(shifted[..., 1:], base[..., 1:], atol=1e-6)


def test_apply_driving_multiplier_and_expression_friendly():
  rng = np.random.default_rng(10)
  x_s = jnp.asarray(rng.standard_normal((1, 21, 3)), jnp.float32)
  x_d = jnp.asarray(rng.standard_normal((3, 21, 3)), jnp.float32)
  np.testing.assert_allclose(motion.apply_driving_multiplier(x_d, x_s, 1.0), x_d, atol=1e-6)
  np.testing.assert_allclose(motion.apply_driving_multiplier(x_d, x_s, 0.0),
                             jnp.broadcast_to(x_s, x_d.shape), atol=0)
  np.testing.assert_allclose(motion.apply_driving_multiplier(x_d, x_s, 1.5),
                             x_s + 1.5 * (x_d - x_s), atol=1e-6)
  x_d0 = x_d[:1]
  np.testing.assert_allclose(motion.expression_friendly(x_d, x_s, x_d0, 0.5),
                             (x_d - x_d0) * 0.5 + x_s, atol=1e-6)
  # The multiplier is sqrt(vol(x_s) / vol(x_d0)): a 2x larger x_d0 has 8x the volume.
  np.testing.assert_allclose(motion.motion_multiplier(x_s, 2 * x_s), np.sqrt(1 / 8), rtol=1e-9)


def test_stitching_and_retarget_inputs():
  x_s = jnp.arange(63, dtype=jnp.float32).reshape(1, 21, 3)
  x_d = -jnp.arange(126, dtype=jnp.float32).reshape(2, 21, 3)
  feat = np.asarray(motion.stitching_input(x_s, x_d))
  assert feat.shape == (2, 126)
  np.testing.assert_array_equal(feat[:, :63], np.tile(np.arange(63), (2, 1)))
  np.testing.assert_array_equal(feat[1, 63:], -np.arange(63, 126))
  cond = jnp.array([[7.0, 8.0], [9.0, 10.0]])
  ret = np.asarray(motion.retarget_input(x_s, cond))
  np.testing.assert_array_equal(ret[:, :63], np.tile(np.arange(63), (2, 1)))
  np.testing.assert_array_equal(ret[:, 63:], cond)


# --------------------------------------------------------------------------------------------
# hull


def _random_rotation(rng):
  q, r = np.linalg.qr(rng.standard_normal((3, 3)))
  return q * np.sign(np.diag(r))


def test_convex_hull_volume_analytic():
  cube = np.array(list(itertools.product((0.0, 1.0), repeat=3)))
  assert hull.convex_hull_volume(cube) == pytest.approx(1.0, rel=1e-12)
  rng = np.random.default_rng(11)
  box = cube * [2.0, 3.0, 0.5] + [1.0, -2.0, 4.0]
  inside = rng.uniform(0.05, 0.95, (12, 3)) * [2.0, 3.0, 0.5] + [1.0, -2.0, 4.0]
  assert hull.convex_hull_volume(np.concatenate([box, inside])) == pytest.approx(3.0, rel=1e-12)
  on_faces = np.concatenate([box, inside[:6] * [1, 1, 0] + [0, 0, 4.0],  # on z = 4
                             inside[6:] * [0, 1, 1] + [3.0, 0, 0]])  # on x = 3
  assert hull.convex_hull_volume(on_faces) == pytest.approx(3.0, rel=1e-12)
  lattice = np.array(list(itertools.product((-1.0, 0.0, 1.0), repeat=3)))  # 27 points, side 2
  assert hull.convex_hull_volume(lattice) == pytest.approx(8.0, rel=1e-12)
  for _ in range(3):  # coplanar facets in general orientation too
    moved = lattice @ _random_rotation(rng).T + rng.standard_normal(3)
    assert hull.convex_hull_volume(rng.permutation(moved)) == pytest.approx(8.0, rel=1e-9)
  a = 1.7
  tetra = a / np.sqrt(8) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1.0]])
  np.testing.assert_allclose(np.linalg.norm(tetra[0] - tetra[1]), a)
  assert hull.convex_hull_volume(tetra) == pytest.approx(a ** 3 / (6 * np.sqrt(2)), rel=1e-12)
  # An octahedron |x| + |y| + |z| <= 1 has volume 4/3.
  octa = np.concatenate([np.eye(3), -np.eye(3)])
  assert hull.convex_hull_volume(octa) == pytest.approx(4 / 3, rel=1e-12)


def test_convex_hull_volume_degenerate():
  rng = np.random.default_rng(12)
  plane = np.concatenate([rng.standard_normal((10, 2)), np.zeros((10, 1))], 1)
  plane = plane @ _random_rotation(rng).T
  assert hull.convex_hull_volume(plane) == pytest.approx(0.0, abs=1e-12)
  line = np.outer(rng.standard_normal(8), [1.0, 2.0, -1.0])
  assert hull.convex_hull_volume(line) == 0.0
  assert hull.convex_hull_volume(np.ones((5, 3))) == 0.0
  assert hull.convex_hull_volume(np.eye(3)) == 0.0  # fewer than 4 points


def test_convex_hull_volume_matches_scipy():
  spatial = pytest.importorskip("scipy.spatial")
  rng = np.random.default_rng(13)
  for trial in range(8):
    pts = rng.normal(0, 0.3, (21, 3)) * rng.uniform(0.2, 2.0, 3)
    if trial % 2:  # keypoint-like float32 input
      pts = pts.astype(np.float32)
    qhull = spatial.ConvexHull(np.asarray(pts, np.float64))
    # Monte-Carlo-free reference: signed tetrahedra from an interior point over Qhull's facets.
    p = np.asarray(pts, np.float64)
    c = p[qhull.vertices].mean(0)
    tets = p[qhull.simplices] - c
    ref = np.abs(np.linalg.det(tets)).sum() / 6
    assert ref == pytest.approx(qhull.volume, rel=1e-10)
    assert hull.convex_hull_volume(pts) == pytest.approx(ref, rel=1e-9)


def test_with_rotation_adds_r_and_keeps_the_rest():
  info = {"pitch": jnp.array([[10.0]]), "yaw": jnp.array([[-20.0]]), "roll": jnp.array([[5.0]]),
          "kp": jnp.ones((1, 2, 3))}
  out = keypoints.with_rotation(info)
  assert "R" not in info and set(out) == set(info) | {"R"}
  np.testing.assert_array_equal(out["R"], keypoints.get_rotation_matrix(
      info["pitch"], info["yaw"], info["roll"]))
  assert out["kp"] is info["kp"]


# --------------------------------------------------------------------------------------------
# resize and batching


def test_resize_is_antialiased_bilinear_and_skips_equal_sizes():
  x = jnp.asarray(np.random.default_rng(22).uniform(size=(2, 8, 8, 3)).astype(np.float32))
  assert resize.resize(x, 8) is x
  assert resize.resize(x, (8, 8)) is x
  np.testing.assert_array_equal(resize.resize(x, 4),
                                jax.image.resize(x, (2, 4, 4, 3), "linear", antialias=True))
  np.testing.assert_array_equal(resize.resize(x, (4, 6), antialias=False),
                                jax.image.resize(x, (2, 4, 6, 3), "linear", antialias=False))
  # Antialiasing only matters when shrinking: a 2x box average here, not a point sample.
  np.testing.assert_allclose(resize.resize(x, 4)[0, 0, 0], x[0, :2, :2].mean((0, 1)), atol=0.1)
  assert not np.allclose(resize.resize(x, 4), resize.resize(x, 4, antialias=False))


def test_pad_to_batch_repeats_the_last_row():
  x = np.arange(5 * 2).reshape(5, 2)
  padded, n = batching.pad_to_batch(x, 4)
  assert n == 5 and padded.shape == (8, 2)
  np.testing.assert_array_equal(padded[:5], x)
  np.testing.assert_array_equal(padded[5:], np.repeat(x[-1:], 3, axis=0))
  same, n = batching.pad_to_batch(x[:4], 4)
  assert n == 4 and np.array_equal(same, x[:4])


def test_iter_batches_covers_every_row_once_in_fixed_shapes():
  x = np.arange(7)
  got = list(batching.iter_batches(x, 3))
  assert [n for _, n in got] == [3, 3, 1]
  assert all(b.shape == (3,) for b, _ in got)
  np.testing.assert_array_equal(np.concatenate([b[:n] for b, n in got]), x)
  np.testing.assert_array_equal(got[-1][0], [6, 6, 6])
  assert not list(batching.iter_batches(x[:0], 3))


def test_batched_reads_a_stream_lazily_in_order():
  read = []

  def stream():
    for i in range(7):
      read.append(i)
      yield i

  batches = batching.batched(stream(), 3)
  assert next(batches) == [0, 1, 2] and read == [0, 1, 2]  # nothing read ahead
  assert list(batches) == [[3, 4, 5], [6]]
  assert list(batching.batched([], 3)) == []

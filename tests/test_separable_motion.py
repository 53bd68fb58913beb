# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The dense-motion network's sparse motions sampled as einsums (separable_grid_sample).

Both forms of `dense_motion.deform_input` (the per-axis interpolation matrices and the official
gather at the full K+1 grids) agree within float rounding: keypoints that push the grids partly
or wholly out of the volume (zero padding) and shifts of several voxels included, gradients too.
A W built with the form on samples the sparse motions without a gather; the final warp by the
dense deformation stays one.
"""

import dataclasses
import jax
from jax.extend import core as jax_core
import jax.numpy as jnp
import numpy as np
import pytest

from lp_jax.models import dense_motion, liveportrait
from lp_jax.models import variants
from lp_jax.ops.grid_sample import grid_sample, separable_grid_sample

SHAPE = (2, 4, 6, 5, 3)  # [B, D, H, W, C]: unequal sizes catch a swapped axis
NUM_KP = 5


def _inputs(seed=0, spread=2.5):
  rng = np.random.default_rng(seed)
  feature = jnp.asarray(rng.normal(size=SHAPE), jnp.float32)
  # Coordinates span [-1, 1]; keypoint differences up to 2 * spread move a grid by many voxels
  # and partly or wholly outside the volume.
  kp_d = jnp.asarray(rng.uniform(-spread, spread, (SHAPE[0], NUM_KP, 3)), jnp.float32)
  kp_s = jnp.asarray(rng.uniform(-spread, spread, (SHAPE[0], NUM_KP, 3)), jnp.float32)
  return feature, kp_d, kp_s


def _forms(separable):
  return jax.jit(lambda f, d, s: dense_motion.deform_input(f, d, s, separable))


def test_axes_equal_the_sparse_motions_bit_for_bit():
  _, kp_d, kp_s = _inputs()
  motion = dense_motion.sparse_motions(SHAPE[1:4], kp_d, kp_s)  # [B, K+1, D, H, W, 3]
  z, y, x = dense_motion.sparse_motion_axes(SHAPE[1:4], kp_d, kp_s)
  np.testing.assert_array_equal(motion[..., 0], np.broadcast_to(
      x[:, :, None, None, :], motion.shape[:-1]))
  np.testing.assert_array_equal(motion[..., 1], np.broadcast_to(
      y[:, :, None, :, None], motion.shape[:-1]))
  np.testing.assert_array_equal(motion[..., 2], np.broadcast_to(
      z[:, :, :, None, None], motion.shape[:-1]))


@pytest.mark.parametrize("spread", [0.3, 2.5])
def test_separable_equals_gather(spread):
  feature, kp_d, kp_s = _inputs(spread=spread)
  got, want = _forms(True)(feature, kp_d, kp_s), _forms(False)(feature, kp_d, kp_s)
  assert got.shape == want.shape == (SHAPE[0], NUM_KP + 1, *SHAPE[1:])
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
  # The cases the test is for: some samples partly outside (zero-padded taps), some entirely.
  shift = jnp.abs(kp_s - kp_d) * (np.array(SHAPE[3:0:-1]) / 2)  # voxels, (x, y, z)
  assert float(jnp.max(shift)) > 1.0
  if spread > 1:
    assert float(jnp.min(jnp.abs(want))) == 0.0 and float(jnp.max(jnp.abs(want))) > 0.1


def test_background_is_the_identity_warp():
  feature, kp_d, kp_s = _inputs()
  got = _forms(True)(feature, kp_d, kp_s)[:, 0]
  # Identity grid (align_corners=False): the half-weighted borders of the official warp.
  grid = dense_motion.sparse_motions(SHAPE[1:4], kp_d, kp_s)[:, 0]
  np.testing.assert_allclose(got, grid_sample(feature, grid), rtol=0, atol=1e-5)


def test_gradients_agree():
  feature, kp_d, kp_s = _inputs(seed=1, spread=1.2)
  weights = jnp.asarray(np.random.default_rng(2).normal(
      size=(SHAPE[0], NUM_KP + 1, *SHAPE[1:])), jnp.float32)
  loss = lambda separable: jax.jit(jax.grad(
      lambda f, d, s: jnp.sum(weights * dense_motion.deform_input(f, d, s, separable)),
      argnums=(0, 1, 2)))
  got, want = loss(True)(feature, kp_d, kp_s), loss(False)(feature, kp_d, kp_s)
  for g, w in zip(got, want):
    scale = float(jnp.max(jnp.abs(w))) + 1e-6
    np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * scale)


def test_two_dimensional():
  rng = np.random.default_rng(3)
  image = jnp.asarray(rng.normal(size=(2, 6, 5, 3)), jnp.float32)
  ys, xs = (jnp.asarray(rng.uniform(-1.6, 1.6, (2, 4, n)), jnp.float32) for n in (7, 4))
  grid = jnp.stack(jnp.broadcast_arrays(xs[:, :, None, :], ys[:, :, :, None]), axis=-1)
  want = grid_sample(image, grid.reshape(2, 4 * 7, 4, 2)).reshape(2, 4, 7, 4, 3)
  got = separable_grid_sample(image, (ys, xs))
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def _gathers(separable: bool) -> int:
  config = variants.get_config("micro")
  net = liveportrait.build("warping_module", config, platform="tpu")
  net = net.clone(forms=dataclasses.replace(net.forms, separable_sparse_motion=separable))
  inputs = liveportrait.example_inputs("warping_module", config)
  variables = jax.eval_shape(net.init, jax.random.key(0), *inputs)
  # Counted in the traced program (jaxpr, sub-programs included): its lowered text keeps one
  # copy of each distinct gather function however often it is called.
  return _count(jax.make_jaxpr(net.apply)(variables, *inputs).jaxpr, "gather")


def _count(jaxpr, primitive: str) -> int:
  n = 0
  for eqn in jaxpr.eqns:
    n += eqn.primitive.name == primitive
    for param in eqn.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        if isinstance(sub, jax_core.ClosedJaxpr):
          n += _count(sub.jaxpr, primitive)
        elif isinstance(sub, jax_core.Jaxpr):
          n += _count(sub, primitive)
  return n


def test_separable_form_lowers_without_the_sparse_gathers():
  """The gather form has two families of 2^3 corner gathers; the separable form only the final
  warp's (the platform's row, which turns it on, and the same network with it off)."""
  assert liveportrait.build("warping_module", variants.get_config("micro"),
                            platform="tpu").forms.separable_sparse_motion
  corners = 2 ** 3
  assert _gathers(False) == 2 * corners
  assert _gathers(True) == corners

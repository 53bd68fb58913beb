# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax.models.util against PyTorch: instance / layer / batch norm (eval, one training step,
three compounding running-statistics updates in 2-D and 3-D), nearest resizing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import layer_checks
from layer_checks import check_layout as _check_layout
from layer_checks import max_err as _max_err
from layer_checks import nc_last as _nc_last
from lp_jax.models import util

torch = layer_checks.torch  # the shared pytest fixture (skips without torch)


def test_instance_norm_matches_torch(torch):
  x = np.random.default_rng(14).normal(2.0, 3.0, (2, 3, 5, 7)).astype(np.float32)
  ref = torch.nn.InstanceNorm2d(3, affine=False)(torch.from_numpy(x)).numpy()
  out = jax.jit(util.instance_norm)(jnp.asarray(_nc_last(x)))
  assert _max_err(out, _nc_last(ref)) <= 1e-5


def test_layer_norm_matches_torch(torch):
  rng = np.random.default_rng(15)
  x = rng.normal(1.0, 2.0, (2, 3, 4, 8)).astype(np.float32)
  scale, bias = rng.standard_normal((2, 8)).astype(np.float32)
  ln = torch.nn.LayerNorm(8, eps=1e-6)
  with torch.no_grad():
    ln.weight.copy_(torch.from_numpy(scale))
    ln.bias.copy_(torch.from_numpy(bias))
    ref = ln(torch.from_numpy(x)).numpy()
  module = util.LayerNorm()
  variables = {"params": {"scale": scale, "bias": bias}}
  _check_layout(module, variables, x)
  apply = jax.jit(module.apply)
  assert _max_err(apply(variables, jnp.asarray(x)), ref) <= 1e-5
  # eps 1e-6, not Flax's / PyTorch's default 1e-5: visible on a near-constant input.
  tiny = np.full((1, 8), 1.0, np.float32)
  tiny[0, 0] += 1e-3
  ln_tiny = torch.nn.LayerNorm(8, eps=1e-6, elementwise_affine=False)
  np.testing.assert_allclose(apply({"params": {"scale": np.ones(8, np.float32),
                                               "bias": np.zeros(8, np.float32)}}, tiny),
                             ln_tiny(torch.from_numpy(tiny)).detach().numpy(), rtol=1e-3)


def test_batch_norm_eval_matches_torch(torch):
  rng = np.random.default_rng(16)
  x = rng.normal(0.5, 2.0, (2, 4, 5, 6)).astype(np.float32)
  mean, bias, scale = rng.standard_normal((3, 4)).astype(np.float32)
  var = rng.uniform(0.1, 3.0, 4).astype(np.float32)
  bn = torch.nn.BatchNorm2d(4).eval()
  with torch.no_grad():
    for name, value in [("running_mean", mean), ("running_var", var), ("weight", scale),
                        ("bias", bias)]:
      getattr(bn, name).copy_(torch.from_numpy(value))
    ref = bn(torch.from_numpy(x)).numpy()
  module = util.batch_norm(train=False)
  x_j = jnp.asarray(_nc_last(x))
  variables = {"params": {"scale": scale, "bias": bias},
               "batch_stats": {"mean": mean, "var": var}}
  _check_layout(module, variables, x_j)
  assert _max_err(jax.jit(module.apply)(variables, x_j), _nc_last(ref)) <= 1e-5


def test_batch_norm_train_matches_torch(torch):
  """Training mode: normalised by the batch statistics; running mean updated with momentum 0.1."""
  x = np.random.default_rng(17).normal(0.5, 2.0, (2, 4, 5, 6)).astype(np.float32)
  bn = torch.nn.BatchNorm2d(4).train()
  ref = bn(torch.from_numpy(x)).detach().numpy()
  module = util.batch_norm(train=True)
  x_j = jnp.asarray(_nc_last(x))
  variables = module.init(jax.random.PRNGKey(0), x_j)
  out, updates = jax.jit(lambda v, a: module.apply(v, a, mutable=["batch_stats"]))(variables, x_j)
  assert _max_err(out, _nc_last(ref)) <= 1e-5
  np.testing.assert_allclose(updates["batch_stats"]["mean"], bn.running_mean.numpy(), atol=1e-6)


@pytest.mark.parametrize("size", [(10, 14), (15, 21), (10, 21), (12, 9), (3, 4), (5, 7)])
def test_resize_nearest_2d_matches_torch(torch, size):
  x = np.random.default_rng(19).standard_normal((2, 3, 5, 7)).astype(np.float32)
  ref = torch.nn.functional.interpolate(torch.from_numpy(x), size=size, mode="nearest").numpy()
  out = jax.jit(util.resize_nearest_2d, static_argnums=1)(jnp.asarray(_nc_last(x)), size)
  np.testing.assert_array_equal(out, _nc_last(ref))


@pytest.mark.parametrize("ndim", [2, 3])
def test_batch_norm_train_update_matches_torch(torch, ndim):
  """Batch statistics normalise; running mean / *unbiased* var update with momentum 0.1."""
  rng = np.random.default_rng(3)
  shape = (3, 4, 5, 6) if ndim == 2 else (2, 4, 3, 5, 6)  # N C (D) H W
  bn = (torch.nn.BatchNorm2d(4) if ndim == 2 else torch.nn.BatchNorm3d(4)).train()
  with torch.no_grad():
    bn.running_mean.copy_(torch.from_numpy(rng.standard_normal(4).astype(np.float32)))
    bn.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2, 4).astype(np.float32)))
    bn.weight.copy_(torch.from_numpy(rng.standard_normal(4).astype(np.float32)))
    bn.bias.copy_(torch.from_numpy(rng.standard_normal(4).astype(np.float32)))
  variables = {"params": {"scale": bn.weight.detach().numpy().copy(),
                          "bias": bn.bias.detach().numpy().copy()},
               "batch_stats": {"mean": bn.running_mean.numpy().copy(),
                               "var": bn.running_var.numpy().copy()}}
  module = util.batch_norm(train=True)
  xs = [rng.normal(0.3, 1.7, shape).astype(np.float32) for _ in range(3)]
  apply = jax.jit(lambda v, a: module.apply(v, a, mutable=["batch_stats"]))
  for x in xs:  # three updates: the running statistics compound
    ref = bn(torch.from_numpy(x)).detach().numpy()
    out, upd = apply(variables, jnp.asarray(np.moveaxis(x, 1, -1)))
    variables = {**variables, **upd}
    np.testing.assert_allclose(out, np.moveaxis(ref, 1, -1), atol=2e-5)
  np.testing.assert_allclose(variables["batch_stats"]["mean"], bn.running_mean.numpy(),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(variables["batch_stats"]["var"], bn.running_var.numpy(),
                             rtol=1e-5, atol=1e-6)
  # Eval mode then normalises with those running statistics, like torch's eval().
  x = xs[0]
  bn.eval()
  ref = bn(torch.from_numpy(x)).detach().numpy()
  out = util.batch_norm(train=False).apply(variables, jnp.asarray(np.moveaxis(x, 1, -1)))
  np.testing.assert_allclose(out, np.moveaxis(ref, 1, -1), atol=2e-5)

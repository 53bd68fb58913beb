# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax.models.spade_generator's layers against PyTorch: pixel shuffle and spectral norm
(eval, folded, one training power iteration)."""

import jax
import jax.numpy as jnp
import numpy as np

import layer_checks
from layer_checks import check_layout as _check_layout
from layer_checks import max_err as _max_err
from layer_checks import nc_last as _nc_last
from lp_jax.models import spade_generator

torch = layer_checks.torch  # the shared pytest fixture (skips without torch)


def test_pixel_shuffle_matches_torch(torch):
  x = np.random.default_rng(20).standard_normal((2, 12, 3, 4)).astype(np.float32)
  ref = torch.nn.PixelShuffle(2)(torch.from_numpy(x)).numpy()
  out = spade_generator.pixel_shuffle(jnp.asarray(_nc_last(x)), 2)
  assert out.shape == (2, 6, 8, 3)
  np.testing.assert_array_equal(out, _nc_last(ref))


# --------------------------------------------------------------------------------------------
# spectral norm


def _spectral_pair(torch, cin, cout, k, pad, warmup):
  """A torch spectral-normed Conv2d (u, v after `warmup` training steps) and matching Flax vars."""
  torch.manual_seed(0)
  conv = torch.nn.utils.spectral_norm(torch.nn.Conv2d(cin, cout, k, padding=pad))
  x = np.random.default_rng(21).standard_normal((2, cin, 6, 7)).astype(np.float32)
  with torch.no_grad():
    conv.train()
    for _ in range(warmup):
      conv(torch.from_numpy(x))
  module = spade_generator.SpectralNormConv(cout, k, pad)
  x_j = jnp.asarray(_nc_last(x))
  variables = {
      "params": {"kernel": conv.weight_orig.detach().permute(2, 3, 1, 0).numpy(),
                 "bias": conv.bias.detach().numpy()},
      "spectral": {"u": conv.weight_u.numpy().copy(), "v": conv.weight_v.numpy().copy()},
  }
  _check_layout(module, variables, x_j)
  return conv, module, x, x_j, variables


def test_spectral_norm_conv_eval_and_folded_match_torch(torch):
  conv, module, x, x_j, variables = _spectral_pair(torch, 3, 5, 3, 1, warmup=2)
  conv.eval()
  with torch.no_grad():
    ref = _nc_last(conv(torch.from_numpy(x)).numpy())
  np.testing.assert_array_equal(conv.weight_u.numpy(), variables["spectral"]["u"])  # eval: no step
  out = jax.jit(module.apply)(variables, x_j)
  assert _max_err(out, ref) <= 1e-5
  sigma = float(spade_generator.spectral_sigma(variables["params"]["kernel"],
                                               variables["spectral"]["u"],
                                               variables["spectral"]["v"]))
  assert abs(sigma - 1.0) > 0.05  # the normalisation is not a no-op here
  folded_vars = spade_generator.fold_spectral_norm(variables)
  assert "spectral" not in folded_vars and "spectral" in variables
  folded = spade_generator.SpectralNormConv(module.features, module.kernel_size, module.padding,
                                            folded=True)
  assert _max_err(jax.jit(folded.apply)(folded_vars, x_j), ref) <= 1e-5
  np.testing.assert_allclose(folded_vars["params"]["kernel"],
                             variables["params"]["kernel"] / sigma, rtol=1e-5, atol=1e-7)
  assert spade_generator.fold_spectral_norm(folded_vars) is folded_vars  # nothing left to fold


def test_spectral_norm_conv_training_step_matches_torch(torch):
  conv, module, x, x_j, variables = _spectral_pair(torch, 4, 6, 3, 1, warmup=0)
  u0 = variables["spectral"]["u"].copy()
  out, updates = jax.jit(lambda v, a: module.apply(v, a, train=True, mutable=["spectral"]))(
      variables, x_j)
  conv.train()
  with torch.no_grad():
    ref = _nc_last(conv(torch.from_numpy(x)).numpy())
  assert _max_err(updates["spectral"]["u"], conv.weight_u.numpy()) <= 1e-5
  assert _max_err(updates["spectral"]["v"], conv.weight_v.numpy()) <= 1e-5
  assert _max_err(u0, conv.weight_u.numpy()) > 1e-6  # the step did move u
  assert _max_err(out, ref) <= 1e-5

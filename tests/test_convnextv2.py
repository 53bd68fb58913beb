# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax.models.convnextv2's GRN layer against the PyTorch formula."""

import jax
import jax.numpy as jnp
import numpy as np

import layer_checks
from layer_checks import check_layout as _check_layout
from layer_checks import max_err as _max_err
from lp_jax.models import convnextv2

torch = layer_checks.torch  # the shared pytest fixture (skips without torch)


def test_grn_matches_torch_formula(torch):
  rng = np.random.default_rng(18)
  x = rng.standard_normal((2, 3, 4, 6)).astype(np.float32)
  gamma, beta = rng.standard_normal((2, 1, 1, 1, 6)).astype(np.float32)
  xt, gt, bt = (torch.from_numpy(a) for a in (x, gamma, beta))
  gx = torch.norm(xt, p=2, dim=(1, 2), keepdim=True)
  nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
  ref = (gt * (xt * nx) + bt + xt).numpy()
  module = convnextv2.GRN()
  variables = {"params": {"gamma": gamma, "beta": beta}}
  _check_layout(module, variables, x)
  out = jax.jit(module.apply)(variables, jnp.asarray(x))
  assert _max_err(out, ref) <= 1e-5

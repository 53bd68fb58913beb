# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The upsample-folded 3x3 convs equal upsample-then-conv, with the replaced layers' variables."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lp_jax.models import kernels, util
from lp_jax.models.upsample_conv import upsample_doublings


def direct(x, kernel, bias, factor, axes):
  x = util.upsample_nearest(x, factor, axes)
  nd = kernel.ndim - 2
  dims = ("NHWC", "HWIO", "NHWC") if nd == 2 else ("NDHWC", "DHWIO", "NDHWC")
  return jax.lax.conv_general_dilated(x, kernel, (1,) * nd, [(1, 1)] * nd,
                                      dimension_numbers=dims) + bias


@pytest.mark.parametrize("doublings", [1, 2])
def test_upsample_conv2d_equals_upsample_then_conv(doublings):
  x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 5, 7, 6)), jnp.float32)
  size = (5 * 2 ** doublings, 7 * 2 ** doublings)
  layer = util.conv(4, 3, padding=1, upsample_to=size, forms=kernels.CPU)  # the phase form
  variables = layer.init(jax.random.PRNGKey(0), x)
  reference = nn.Conv(4, (3, 3), padding=[(1, 1)] * 2).init(jax.random.PRNGKey(0), x)
  assert jax.tree.map(jnp.shape, variables) == jax.tree.map(jnp.shape, reference)
  p = variables["params"]
  want = direct(x, p["kernel"], p["bias"], 2 ** doublings, (1, 2))
  np.testing.assert_allclose(layer.apply(variables, x), want, atol=2e-5, rtol=0)


@pytest.mark.parametrize("hw", [4, 16])  # below and above the CPU phase form's 8x8 inputs
def test_upsample_conv3d_equals_upsample_then_conv(hw):
  x = jnp.asarray(np.random.default_rng(1).standard_normal((1, 3, hw, hw, 5)), jnp.float32)
  layer = util.conv(4, 3, ndim=3, padding=1, upsample_to=(2 * hw, 2 * hw), forms=kernels.CPU)
  variables = layer.init(jax.random.PRNGKey(0), x)
  reference = util.conv(4, 3, ndim=3, padding=1).init(jax.random.PRNGKey(0), x)
  assert jax.tree.map(jnp.shape, variables) == jax.tree.map(jnp.shape, reference)
  p = variables["params"]
  want = direct(x, p["kernel"], p["bias"], 2, (2, 3))
  np.testing.assert_allclose(layer.apply(variables, x), want, atol=3e-5, rtol=0)


def test_upsample_doublings():
  assert upsample_doublings((64, 64), (128, 128)) == 1
  assert upsample_doublings((64, 64), (256, 256)) == 2
  assert upsample_doublings((64, 64), (64, 64)) == 0
  assert upsample_doublings((64, 64), (192, 192)) == 0  # 3x: not a chain of doublings
  assert upsample_doublings((64, 32), (128, 128)) == 0  # unequal factors

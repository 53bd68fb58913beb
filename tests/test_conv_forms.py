# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The Winograd and FFT convolutions equal the direct convolution, and the layers pick them
only where KernelForms says (models/conv_forms.py, winograd.py, fft_conv.py).

References are computed in float64 with NumPy (shifted-window sums), independent of XLA.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lp_jax.models import conv_forms, fft_conv, kernels, util, winograd


def reference_conv(x: np.ndarray, kernel: np.ndarray, padding: int) -> np.ndarray:
  """Cross-correlation, stride 1, zero padding, channels last, any number of spatial axes."""
  x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
  nd = kernel.ndim - 2
  x = np.pad(x, [(0, 0)] + [(padding, padding)] * nd + [(0, 0)])
  out_shape = [x.shape[1 + a] - kernel.shape[a] + 1 for a in range(nd)]
  out = np.zeros((x.shape[0], *out_shape, kernel.shape[-1]))
  for tap in np.ndindex(*kernel.shape[:nd]):
    window = x[(slice(None),) + tuple(slice(t, t + s) for t, s in zip(tap, out_shape))]
    out += window @ kernel[tap]
  return out


def _data(rng, x_shape, k_shape):
  fan_in = np.prod(k_shape[:-1])
  x = rng.standard_normal(x_shape).astype(np.float32)
  k = (rng.uniform(-1, 1, k_shape) / np.sqrt(fan_in)).astype(np.float32)
  return x, k


def _assert_close(got, want, rel):
  scale = float(np.abs(want).max())
  err = float(np.abs(np.asarray(got, np.float64) - want).max())
  assert err <= rel * scale, f"max abs error {err:.3g} > {rel:g} x scale {scale:.3g}"


@pytest.mark.parametrize("shape", [(1, 8, 8), (2, 13, 9), (1, 5, 22), (1, 1, 3)])
def test_winograd_2d_equals_direct(shape):
  """Any H and W (whole tiles or not, smaller than a tile), batches share one GEMM."""
  n, h, w = shape
  x, k = _data(np.random.default_rng(h * w), (n, h, w, 24), (3, 3, 24, 40))
  # Measured ~1.5e-5 x scale at 512 channels (docs/performance.md); 24 channels sum less.
  _assert_close(jax.jit(winograd.conv3x3)(x, k), reference_conv(x, k, 1), 2e-5)


def test_winograd_2d_is_not_the_identity():
  """The comparison above can fail: a kernel off by one tap is caught."""
  x, k = _data(np.random.default_rng(0), (1, 8, 8, 4), (3, 3, 4, 4))
  moved = np.roll(k, 1, axis=0)
  got = np.asarray(winograd.conv3x3(x, moved), np.float64)
  assert np.abs(got - reference_conv(x, k, 1)).max() > 0.1


@pytest.mark.parametrize("shape", [(1, 4, 8, 8), (2, 3, 9, 6)])
def test_winograd_3d_equals_direct(shape):
  n, d, h, w = shape
  x, k = _data(np.random.default_rng(d * h), (n, d, h, w, 12), (3, 3, 3, 12, 20))
  _assert_close(jax.jit(winograd.conv3d_3x3x3)(x, k), reference_conv(x, k, 1), 2e-5)


@pytest.mark.parametrize("shape,kernel_size", [((1, 4, 16, 16), 7), ((2, 5, 20, 9), 7),
                                                ((1, 3, 6, 33), 5)])
def test_fft_conv3d_equals_direct(shape, kernel_size):
  """Several tiles, partial tiles, and a map narrower than a tile."""
  n, d, h, w = shape
  k = kernel_size
  x, kern = _data(np.random.default_rng(h + w), (n, d, h, w, 6), (k, k, k, 6, 5))
  # FFT round-off is like the direct sum's: measured 1e-6 x scale at the official mask shape.
  _assert_close(jax.jit(fft_conv.conv3d)(x, kern), reference_conv(x, kern, k // 2), 1e-5)


def test_gradients_match_the_direct_form():
  """Training on CPU differentiates through the Winograd and FFT forms."""
  rng = np.random.default_rng(3)
  x2, k2 = _data(rng, (2, 9, 10, 8), (3, 3, 8, 6))
  x3, k3 = _data(rng, (1, 4, 12, 12, 3), (5, 5, 5, 3, 2))
  direct2 = lambda x, k: jax.lax.conv_general_dilated(
      x, k, (1, 1), [(1, 1)] * 2, dimension_numbers=("NHWC", "HWIO", "NHWC"),
      precision=jax.lax.Precision.HIGHEST)
  direct3 = lambda x, k: jax.lax.conv_general_dilated(
      x, k, (1, 1, 1), [(2, 2)] * 3, dimension_numbers=("NDHWC", "DHWIO", "NDHWC"),
      precision=jax.lax.Precision.HIGHEST)
  for form, direct, x, k in ((winograd.conv3x3, direct2, x2, k2),
                             (fft_conv.conv3d, direct3, x3, k3)):
    loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
    got = jax.grad(loss(form), argnums=(0, 1))(x, k)
    want = jax.grad(loss(direct), argnums=(0, 1))(x, k)
    for a, b in zip(got, want):
      _assert_close(a, np.asarray(b, np.float64), 5e-5)


def _form(forms, x_shape, k_shape, padding, dtype=jnp.float32):
  """conv_forms.conv3d_form of a Conv3d built with `forms`."""
  return conv_forms.conv3d_form(forms, jax.ShapeDtypeStruct(x_shape, dtype),
                                jax.ShapeDtypeStruct(k_shape, dtype), padding)


def test_conv3d_form_per_shape_and_backend():
  cpu = kernels.CPU
  mask = ((1, 16, 64, 64, 142), (7, 7, 7, 142, 22), 3)
  out = ((1, 16, 64, 64, 142), (3, 3, 3, 142, 142), 1)
  narrow = ((1, 16, 64, 64, 32), (3, 3, 3, 32, 32), 1)  # F's residual blocks
  small = ((1, 16, 32, 32, 64), (3, 3, 3, 64, 128), 1)  # below the Winograd H * W
  assert _form(cpu, *mask) == "fft"
  assert _form(cpu, *out) == "winograd"
  assert _form(cpu, *narrow) == "folded"
  assert _form(cpu, *small) == "folded"
  assert _form(cpu, *out, dtype=jnp.bfloat16) == "folded"  # float32 only
  assert _form(cpu, *mask, dtype=jnp.bfloat16) == "folded"
  assert _form(kernels.GPU, *mask) == _form(kernels.GPU, *out) == "direct"
  # TPU folds only the narrowest outputs: the mask (22), not F's blocks (32) or wider convs.
  assert _form(kernels.TPU, *mask) == "folded"
  assert _form(kernels.TPU, *narrow) == _form(kernels.TPU, *out) == "direct"
  assert _form(kernels.TPU, *small) == "direct"
  assert _form(kernels.TPU, *mask, dtype=jnp.bfloat16) == "folded"
  off = dataclasses.replace(cpu, winograd3d_min_hw=None, fft_conv3d_min_kernel=None)
  assert _form(off, *mask) == _form(off, *out) == "folded"


def test_conv3x3_layer_variables_and_outputs_equal_nn_conv():
  """util.conv(…, 3, padding=1) keeps nn.Conv's variables; Winograd on CPU, direct when off."""
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.standard_normal((2, 16, 12, 64)), jnp.float32)
  plain = nn.Conv(96, (3, 3), padding=[(1, 1)] * 2)
  variables = plain.init(jax.random.key(0), x)
  want = np.asarray(plain.apply(variables, x), np.float64)
  programs = []
  for forms in (kernels.CPU, dataclasses.replace(kernels.CPU, winograd_max_hw=None)):
    layer = util.conv(96, 3, padding=1, forms=forms)
    assert (jax.tree.map(jnp.shape, jax.eval_shape(layer.init, jax.random.key(0), x)) ==
            jax.tree.map(jnp.shape, variables))
    _assert_close(layer.apply(variables, x), want, 2e-5)
    programs.append(jax.jit(layer.apply).lower(variables, x).as_text())
  assert programs[0] != programs[1]
  assert "fft" not in programs[0] and programs[0].count("dot_general") > 0

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Helpers of the layer tests that compare lp_jax (NHWC) with PyTorch (NCHW) references."""

import jax
import numpy as np
import pytest


@pytest.fixture(scope="module")
def torch():
  return pytest.importorskip("torch")


def nc_last(x):
  """NC... (PyTorch) -> N...C (lp_jax)."""
  return np.moveaxis(np.asarray(x), 1, -1)


def max_err(a, b):
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def check_layout(module, variables, *args):
  """Asserts that hand-made `variables` have exactly the collections, names and shapes of init."""
  shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0), *args)  # nothing is compiled
  assert jax.tree.map(np.shape, variables) == jax.tree.map(lambda a: a.shape, shapes)

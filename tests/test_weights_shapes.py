# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax.weights.shapes: the one shape check of loaded variables against a model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from lp_jax_configs import models as model_configs
from lp_jax import weights
from lp_jax.models import liveportrait
from lp_jax.weights import shapes


def test_mismatches_lists_every_difference_in_path_order():
  expected = {"params": {"a": jax.ShapeDtypeStruct((2, 3), jnp.float32),
                         "b": jax.ShapeDtypeStruct((4,), jnp.float32)}}
  actual = {"params": {"a": np.zeros((3, 2)), "c": np.zeros(1)}}
  assert shapes.mismatches(expected, actual) == [
      (("params", "a"), (2, 3), (3, 2)),  # wrong shape
      (("params", "b"), (4,), None),  # missing
      (("params", "c"), None, (1,)),  # not in the model
  ]
  assert shapes.mismatches(expected, {"params": {"a": np.zeros((2, 3)), "b": np.ones(4)}}) == []


def test_check_shapes_names_the_network_and_the_leaf():
  config = model_configs.get_config("tiny")
  variables = {"stitching": liveportrait.random_variables("stitching", config, 0)}
  weights.check_shapes(variables, config, "somewhere")  # random variables of the model fit it
  flat = traverse_util.flatten_dict(variables["stitching"])
  key = sorted(flat)[0]
  flat[key] = np.zeros(np.shape(flat[key]) + (2,), np.float32)
  bad = {"stitching": traverse_util.unflatten_dict(flat)}
  with pytest.raises(ValueError, match=rf"somewhere: stitching/{'/'.join(key)} does not match "
                                       r"the model config \(expected \("):
    weights.check_shapes(bad, config, "somewhere")

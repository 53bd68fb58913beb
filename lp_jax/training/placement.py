# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Putting a state on the mesh without ever holding a full copy on one device.

`jax.eval_shape(init_fn, rng)` -> shardings by the config's rules -> `jax.jit(init_fn,
out_shardings=...)(rng)`, so each device computes only its shards. Weights loaded from disk are
placed leaf by leaf with `jax.make_array_from_callback`, which works the same on one host and on
many.
"""

from typing import Callable

import jax
import numpy as np

from lp_jax.training import mesh as mesh_lib


def sharded_init(init_fn: Callable, rng, mesh, sharding_config):
  """(state, shardings, abstract state with shardings) of `init_fn(rng)` placed by the rules."""
  abstract = jax.eval_shape(init_fn, rng)
  shardings = mesh_lib.state_shardings(abstract, mesh, sharding_config)
  state = jax.jit(init_fn, out_shardings=shardings)(rng)
  return state, shardings, with_shardings(abstract, shardings)


def with_shardings(abstract, shardings):
  """ShapeDtypeStructs of `abstract` carrying `shardings` (what Orbax restores onto)."""
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      abstract, shardings)


def place(host_tree, shardings):
  """Host (numpy) leaves -> global arrays with the given shardings (every process has all)."""
  def one(x, s):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, s, lambda idx: x[idx])
  return jax.tree.map(one, host_tree, shardings)

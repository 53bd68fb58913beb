# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""training/streams.py: several streams through one call without moving samples between devices
(8 CPU devices, the batch sharded as the training mesh shards it)."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from lp_jax.aot import hlo
from lp_jax.training import streams

MOVES = ("collective-permute", "all-to-all", "all-gather")


def test_interleave_orders_rows_sample_major_and_deinterleave_inverts_it():
  rng = np.random.default_rng(0)
  a, b, c = (rng.normal(size=(4, 3, 2)).astype(np.float32) for _ in range(3))
  x = np.asarray(streams.interleave(a, b, c))
  assert x.shape == (12, 3, 2)
  np.testing.assert_array_equal(x[0::3], a)
  np.testing.assert_array_equal(x[1::3], b)
  np.testing.assert_array_equal(x[2::3], c)
  tree = {"kp": streams.interleave(a, b, c), "nested": [(streams.interleave(c, a, b),)]}
  parts = streams.deinterleave(tree, 3)
  for part, first, second in zip(parts, (a, b, c), (c, a, b)):
    np.testing.assert_array_equal(part["kp"], first)
    np.testing.assert_array_equal(part["nested"][0][0], second)
  np.testing.assert_array_equal(streams.repeat(a, 3)[2::3], a)


def _collectives(fn, *shapes):
  mesh = Mesh(np.array(jax.devices()[:8]).reshape(4, 2), ("data", "fsdp"))
  batch = NamedSharding(mesh, P(("data", "fsdp")))
  args = [jax.ShapeDtypeStruct(s, jnp.float32, sharding=batch) for s in shapes]
  compiled = jax.jit(fn, in_shardings=batch, out_shardings=batch).lower(*args).compile()
  return hlo.collectives(compiled.as_text())


def _network(x):
  """A per-sample network: a 3x3 conv and a nonlinearity."""
  k = jnp.ones((3, 3, x.shape[-1], 4), x.dtype) / 9
  y = jax.lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return jnp.tanh(y)


def test_interleaved_streams_stay_on_their_devices():
  assert len(jax.devices()) >= 8

  def interleaved(src, drv):
    out_s, out_d, _ = streams.deinterleave(_network(streams.interleave(src, drv, drv * 2)), 3)
    return out_s - out_d

  def concatenated(src, drv):
    out = _network(jnp.concatenate([src, drv, drv * 2], axis=0))
    b = src.shape[0]
    return out[:b] - out[b:2 * b]

  shape = (16, 8, 8, 3)
  moved = _collectives(concatenated, shape, shape)
  assert set(MOVES) & set(moved), moved  # the concatenation crosses devices ...
  assert not set(MOVES) & set(_collectives(interleaved, shape, shape))  # ... interleaving not
  rng = np.random.default_rng(1)
  src, drv = (rng.normal(size=shape).astype(np.float32) for _ in range(2))
  np.testing.assert_allclose(jax.jit(interleaved)(src, drv), concatenated(src, drv),
                             rtol=1e-6, atol=1e-6)

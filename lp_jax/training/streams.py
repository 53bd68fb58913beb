# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Several streams of one batch (source, driving, warped driving; fake and real) through one
network call, without moving samples between devices.

The batch axis is sharded over the mesh's data x fsdp axes. Concatenating streams along it,
[a; b], puts all of `a` on the first devices and all of `b` on the last, so XLA moves every
sample (collective-permutes and all-to-alls in each step, forward and backward). Interleaving,
row i * n + j = stream j's sample i, keeps each device's samples of every stream on that device:
stacking on a new axis 1 and merging it into axis 0 is a local reshape, and so is the inverse.
The networks run once on the whole batch (weights read once, one set of batch statistics), as
with the concatenation; only the order of the rows differs.
"""

import jax
import jax.numpy as jnp


def interleave(*streams):
  """Arrays [B, ...] of equal shapes -> [n * B, ...] with row i * n + j = streams[j][i]."""
  return jnp.stack(streams, axis=1).reshape((-1,) + streams[0].shape[1:])


def repeat(x, n: int):
  """x [B, ...] as n interleaved copies (the stream that pairs with n others)."""
  return jnp.repeat(x, n, axis=0)


def deinterleave(tree, n: int) -> list:
  """interleave's inverse on every leaf of `tree` (leaves [n * B, ...]): n trees of [B, ...]."""
  grouped = jax.tree.map(lambda x: x.reshape((-1, n) + x.shape[1:]), tree)
  return [jax.tree.map(lambda x, j=j: x[:, j], grouped) for j in range(n)]

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Fixed-shape batching of host arrays: every jitted call sees one shape, so compiles once."""

import itertools
from typing import Iterable, Iterator, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

T = TypeVar("T")


def pad_to_batch(x: np.ndarray, batch_size: int) -> tuple[np.ndarray, int]:
  """`x` [N, ...] padded along axis 0 to a multiple of `batch_size`; returns (padded, N).

  Padding repeats the last row: a real input, so the padded rows compute ordinary values that
  the caller drops (keeping the first N results).
  """
  xp = jnp if isinstance(x, jax.Array) else np  # device arrays stay on the device
  x = xp.asarray(x)
  n = x.shape[0]
  pad = -n % batch_size
  if pad:
    x = xp.concatenate([x, xp.repeat(x[-1:], pad, axis=0)])
  return x, n


def iter_batches(x: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, int]]:
  """(batch [batch_size, ...], number of real rows) over `x` [N, ...] in order, the last one
  padded by `pad_to_batch`; nothing for N = 0."""
  x = np.asarray(x)
  for i in range(0, x.shape[0], batch_size):
    yield pad_to_batch(x[i:i + batch_size], batch_size)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
  """Consecutive lists of `size` items (the last one shorter), read lazily from a stream."""
  it = iter(items)
  while batch := list(itertools.islice(it, size)):
    yield batch

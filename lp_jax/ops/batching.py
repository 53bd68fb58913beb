# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Fixed-size batches: every jitted call sees one shape, so a stream of any length compiles once."""

import itertools
from typing import Iterable, Iterator, TypeVar

import numpy as np

T = TypeVar("T")


def pad_to_batch(x: np.ndarray, size: int) -> np.ndarray:
  """x [n, ...] with n <= size, padded to [size, ...] by repeating its last row."""
  pad = size - x.shape[0]
  if pad < 0:
    raise ValueError(f"{x.shape[0]} rows do not fit a batch of {size}")
  return np.concatenate([x, np.repeat(x[-1:], pad, axis=0)]) if pad else x


def pad_to_multiple(x: np.ndarray, size: int) -> np.ndarray:
  """x [n, ...] padded to the next multiple of `size` rows by repeating its last row."""
  return pad_to_batch(x, -(-x.shape[0] // size) * size)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
  """Consecutive lists of `size` items (the last one shorter), read lazily from `items`."""
  it = iter(items)
  while batch := list(itertools.islice(it, size)):
    yield batch

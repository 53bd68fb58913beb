# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Placing PyTorch state-dict tensors onto Flax variables: the checks and messages shared by the
official-folder and the auxiliary-network conversions (their key rules differ, see key_rules)."""

import numpy as np
from flax import traverse_util

from lp_jax.weights import key_rules


class Mapping:
  """Collects one state dict's tensors as flat Flax leaves, checked against `abstract`.

  Attributes:
    expected: {flat Flax path: ShapeDtypeStruct} of the target variables.
    flat: {flat Flax path: float32 array in Flax layout} placed so far.
    problems: one line per unexpected key, wrong shape or wrong dtype.
  """

  def __init__(self, abstract: dict, label: str):
    self.expected = traverse_util.flatten_dict(abstract)
    self.label = label
    self.flat: dict = {}
    self.problems: list[str] = []
    self._seen: set = set()

  def unexpected(self, raw_key: str, value: np.ndarray) -> None:
    self.problems.append(f"{self.label}: unexpected key {raw_key} {tuple(value.shape)}")

  def place(self, raw_key: str, value: np.ndarray, mapped: tuple, float_only: bool = False
            ) -> bool:
    """Puts `value` at `mapped` = (collection, Flax path, layout); False (and a problem) when
    the model has no such leaf, its shape differs, or (float_only) it is not a float tensor."""
    collection, path, layout = mapped
    target = (collection,) + path
    if target not in self.expected:
      self.unexpected(raw_key, value)
      return False
    self._seen.add(target)
    want = key_rules.torch_shape(self.expected[target].shape, layout)
    if want != tuple(value.shape):
      self.problems.append(f"{self.label}: {raw_key}: expected shape {want}, got "
                           f"{tuple(value.shape)}")
      return False
    if float_only and not np.issubdtype(value.dtype, np.floating):
      self.problems.append(f"{self.label}: {raw_key}: expected a float tensor, got {value.dtype}")
      return False
    self.flat[target] = key_rules.to_flax_layout(value.astype(np.float32, copy=False), layout)
    return True

  def finish(self, torch_key) -> tuple[dict, list[str]]:
    """(variables, problems) with a `missing key` problem per leaf no tensor reached;
    `torch_key(flat path, ndim)` -> (PyTorch key, layout) names them."""
    for target, leaf in self.expected.items():
      if target not in self._seen:
        key, layout = torch_key(target, len(leaf.shape))
        self.problems.append(f"{self.label}: missing key {key} (expected shape "
                             f"{key_rules.torch_shape(leaf.shape, layout)})")
    return traverse_util.unflatten_dict(self.flat), self.problems

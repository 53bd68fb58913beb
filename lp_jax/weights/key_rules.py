# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The PyTorch <-> Flax rule table for LivePortrait state dicts.

Flax module names equal the PyTorch attribute names, with Sequential / ModuleList entries named
`<attr>.<index>`; a PyTorch key therefore maps to a Flax path by splitting on every dot that is
not followed by a digit, and the leaf name and layout follow from the leaf and its rank alone.
DDP's `module.` prefixes are stripped before the rules apply.
"""

import re

import numpy as np

# (collection, flax leaf, layout) per PyTorch leaf; "weight" depends on the tensor rank.
LEAF_RULES = {
    "weight_orig": ("params", "kernel", "conv"),  # spectral norm: the un-normalised weight
    "weight_u": ("spectral", "u", "same"),
    "weight_v": ("spectral", "v", "same"),
    "bias": ("params", "bias", "same"),
    "running_mean": ("batch_stats", "mean", "same"),
    "running_var": ("batch_stats", "var", "same"),
    "gamma": ("params", "gamma", "same"),  # ConvNeXt-V2 GRN, already channels-last
    "beta": ("params", "beta", "same"),
}
DROPPED_LEAVES = ("num_batches_tracked",)  # BatchNorm bookkeeping, unused by the math


class UnknownKeyError(KeyError):
  pass


def strip_ddp(key: str) -> str:
  """Removes DDP `module.` prefixes wherever a path segment starts with one."""
  return re.sub(r"(^|\.)module\.", r"\1", key)


def torch_shape(shape: tuple, layout: str) -> tuple:
  """The PyTorch shape of a Flax leaf of `shape` stored with `layout`."""
  if layout == "conv":
    return (shape[-1], shape[-2], *shape[:-2])
  if layout == "linear":
    return tuple(reversed(shape))
  return tuple(shape)


def module_path(key: str) -> tuple[tuple[str, ...], str]:
  """'a.b.0.1.c.weight' -> (('a', 'b.0.1', 'c'), 'weight')."""
  *mods, leaf = key.split(".")
  path: list[str] = []
  for seg in mods:
    if seg[:1].isdigit() and path:
      path[-1] += "." + seg
    else:
      path.append(seg)
  return tuple(path), leaf


def torch_key_to_flax(key: str, ndim: int) -> tuple[str, tuple[str, ...], str] | None:
  """(collection, flax path incl. leaf, layout) for a PyTorch key; None for dropped keys."""
  path, leaf = module_path(key)
  if leaf in DROPPED_LEAVES:
    return None
  if leaf == "weight":
    rule = {1: ("params", "scale", "same"), 2: ("params", "kernel", "linear")}.get(
        ndim, ("params", "kernel", "conv"))
  elif leaf in LEAF_RULES:
    rule = LEAF_RULES[leaf]
  else:
    raise UnknownKeyError(key)
  collection, flax_leaf, layout = rule
  return collection, path + (flax_leaf,), layout


def to_flax_layout(array: np.ndarray, layout: str) -> np.ndarray:
  if layout == "conv":  # (O, I, *k) -> (*k, I, O)
    n = array.ndim
    return np.ascontiguousarray(array.transpose(*range(2, n), 1, 0))
  if layout == "linear":  # (out, in) -> (in, out)
    return np.ascontiguousarray(array.T)
  return np.ascontiguousarray(array)


def to_torch_layout(array: np.ndarray, layout: str) -> np.ndarray:
  if layout == "conv":  # (*k, I, O) -> (O, I, *k)
    n = array.ndim
    return np.ascontiguousarray(array.transpose(n - 1, n - 2, *range(n - 2)))
  if layout == "linear":
    return np.ascontiguousarray(array.T)
  return np.ascontiguousarray(array)


def flax_to_torch_key(collection: str, path: tuple[str, ...], ndim: int,
                      spectral_modules: set[tuple[str, ...]]) -> tuple[str, str]:
  """Inverse of `torch_key_to_flax`: (PyTorch key, layout) for one Flax leaf."""
  *mods, leaf = path
  mods = tuple(mods)
  if collection == "params" and leaf == "kernel":
    if mods in spectral_modules:
      torch_leaf, layout = "weight_orig", "conv"
    else:
      torch_leaf, layout = "weight", ("linear" if ndim == 2 else "conv")
  elif collection == "params" and leaf == "scale":
    torch_leaf, layout = "weight", "same"
  else:
    inverse = {(c, l): t for t, (c, l, _) in LEAF_RULES.items()}
    if (collection, leaf) not in inverse:
      raise UnknownKeyError("/".join((collection,) + path))
    torch_leaf, layout = inverse[(collection, leaf)], "same"
  return ".".join(mods + (torch_leaf,)), layout

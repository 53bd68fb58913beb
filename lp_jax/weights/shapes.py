# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The one shape check of loaded variables against what a model expects."""

import numpy as np
from flax import traverse_util

from lp_jax.errors import InputError
from lp_jax.models import liveportrait


def mismatches(expected: dict, actual: dict) -> list[tuple[tuple[str, ...], tuple | None,
                                                           tuple | None]]:
  """(path, expected shape, actual shape) of every leaf whose shape differs, in path order.

  `expected` may hold ShapeDtypeStructs (from `jax.eval_shape`) or arrays, `actual` arrays; a
  leaf missing on one side has shape None there.
  """
  want = traverse_util.flatten_dict(expected)
  got = traverse_util.flatten_dict(actual)
  out = []
  for key in sorted(set(want) | set(got)):
    w = tuple(np.shape(want[key])) if key in want else None
    g = tuple(np.shape(got[key])) if key in got else None
    if w != g:
      out.append((key, w, g))
  return out


def check_shapes(variables: dict, config, label: str) -> None:
  """Raises InputError (a ValueError) unless every network's variables match `config`'s models."""
  for name, var in variables.items():
    bad = mismatches(liveportrait.abstract_variables(name, config), var)
    if bad:
      key, want, got = bad[0]
      raise InputError(f"{label}: {name}/{'/'.join(key)} does not match the model config "
                       f"(expected {want}, got {got})")

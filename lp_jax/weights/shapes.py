# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The one shape check of loaded variables against what a model expects.

The expected shapes come from tracing each network's `init` (`liveportrait.abstract_variables`):
about 2 s for the seven networks on a 2-core CPU, a third of what inference took to start with
a warm compilation cache. They depend only on the model config and the model code, so they are
kept in the user cache (lp_jax.user_cache) under a key of both, of the backend and of the JAX
and Flax versions, and traced again only when one of them changes.
"""

import functools
import hashlib
import json

import flax
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from lp_jax import user_cache
from lp_jax.errors import InputError
from lp_jax.models import liveportrait

CACHE_KIND = "variable-shapes"


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


@functools.cache
def _model_code() -> str:
  # The networks' modules and the ops they are built from.
  return user_cache.source_digest("models", "ops")


def _cache_key(name: str, config) -> str:
  # The whole config: example inputs of one network read other networks' fields.
  text = json.dumps({"network": name, "config": config.to_dict(), "code": _model_code(),
                     "backend": jax.default_backend(), "jax": jax.__version__,
                     "flax": flax.__version__}, sort_keys=True, default=repr)
  return hashlib.sha256(text.encode()).hexdigest()[:32] + ".json"


def expected_variables(name: str, config) -> dict:
  """ShapeDtypeStructs of the variables of network `name` under `config`: traced once, then read
  from the user cache while the model code and config stay the same."""
  key = _cache_key(name, config)
  data = user_cache.read(CACHE_KIND, key)
  if data is not None:
    try:
      return traverse_util.unflatten_dict({
          tuple(path): jax.ShapeDtypeStruct(tuple(shape), jnp.dtype(dtype))
          for path, shape, dtype in json.loads(data)})
    except (ValueError, TypeError):
      pass  # a damaged entry is traced again and replaced
  tree = liveportrait.abstract_variables(name, config)
  entries = [[list(path), list(leaf.shape), str(leaf.dtype)]
             for path, leaf in traverse_util.flatten_dict(tree).items()]
  user_cache.write(CACHE_KIND, key, json.dumps(entries).encode())
  return tree


def check_shapes(variables: dict, config, label: str) -> None:
  """Raises InputError (a ValueError) unless every network's variables match `config`'s models."""
  for name, var in variables.items():
    bad = mismatches(expected_variables(name, config), var)
    if bad:
      key, want, got = bad[0]
      raise InputError(f"{label}: {name}/{'/'.join(key)} does not match the model config "
                       f"(expected {want}, got {got})")

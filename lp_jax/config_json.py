# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A config read back from JSON: a training workdir's config.json, a manifest's `model`."""

import ml_collections


def _tuples(x):
  if isinstance(x, dict):
    return {k: _tuples(v) for k, v in x.items()}
  if isinstance(x, list):
    return tuple(_tuples(v) for v in x)
  return x


def from_json(obj: dict) -> ml_collections.ConfigDict:
  """`obj` as a ConfigDict with JSON lists back to tuples: Flax modules hold hashable
  attributes."""
  return ml_collections.ConfigDict(_tuples(obj))

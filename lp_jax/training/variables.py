# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Flax variables <-> (params, other collections).

Train states keep a network's params (differentiated, updated by Adam) apart from its mutable
collections (batch_stats, spectral); `module.apply` wants them in one dict.
"""

from typing import Any

import flax


def split_variables(variables: dict) -> tuple[Any, dict]:
  """Flax variables -> (params, {other collection: tree})."""
  variables = flax.core.unfreeze(variables)
  return variables.pop("params", {}), variables


def merge_variables(params, model_state) -> dict:
  """(params, {collection: tree} or None) -> Flax variables."""
  return {"params": params, **(model_state or {})}

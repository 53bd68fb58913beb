# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Networks trained elsewhere: reading config.init_from and writing them into a fresh state.

init_from is a converted lp_jax / official weights folder (read by lp_jax.weights) or a training
workdir (its latest checkpoint). Adam moments stay zero: this is fine-tuning, not a resume.
"""

import os

import jax
from absl import logging

from lp_jax import weights
from lp_jax.training import checkpoint, placement
from lp_jax.training import variables as variables_lib
from lp_jax.training.errors import ConfigError
from lp_jax.training.train_state import TrainState
from lp_jax.weights import shapes


def _check_same_structure(loaded, current, what: str) -> None:
  bad = shapes.mismatches(current, loaded)
  if bad:
    key, want, got = bad[0]
    raise ConfigError(f"{what}: {'/'.join(key)} has shape {got}, the model config wants {want}")


def replace_networks(ts: TrainState, loaded: dict, shardings: TrainState, what: str) -> TrainState:
  """Overwrites the networks present in `loaded` ({name: variables}); Adam moments stay zero."""
  params, model_state = dict(ts.params), dict(ts.model_state or {})
  for name, variables in loaded.items():
    if name not in params:
      continue
    p, s = variables_lib.split_variables(variables)
    s = {k: v for k, v in s.items() if k in model_state.get(name, {})}
    _check_same_structure(p, params[name], f"{what} [{name}]")
    _check_same_structure(s, model_state.get(name, {}), f"{what} [{name}]")
    params[name] = placement.place(p, shardings.params[name])
    if s:
      model_state[name] = placement.place(s, shardings.model_state[name])
    logging.info("initialised %s from %s", name, what)
  return ts.replace(params=params, model_state=model_state)


def load_pretrained(path: str, model_config) -> dict:
  """{network: variables (numpy)} from a converted / official folder or a training workdir.

  A training workdir (one with checkpoints/) gives its latest checkpoint's generator (Stage I)
  or retargeting (Stage II) networks; anything else goes through lp_jax.weights.load_variables.
  """
  if os.path.isdir(os.path.join(path, "checkpoints")):
    raw, step = checkpoint.restore_state_only(path)
    logging.info("using step %d of the training run %s", step, path)
    return networks_of_state(raw)
  variables, _ = weights.load_variables(path, model_config)
  return variables


def networks_of_state(raw: dict) -> dict:
  """{network: variables} from a (restored, dict-shaped) Stage I or Stage II state."""
  out = {}
  for ts in ([raw["generator"]] if "generator" in raw else [raw]):
    for name, params in ts["params"].items():
      state = (ts.get("model_state") or {}).get(name)
      out[name] = jax.device_get(variables_lib.merge_variables(params, state))
  return out

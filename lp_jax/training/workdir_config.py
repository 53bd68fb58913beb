# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The config of a training run, read back: --config FILE[:ARG] or the workdir's config.json."""

import importlib.util
import json
import os

import ml_collections

from lp_jax import config_json
from lp_jax.training.errors import ConfigError



def load_config(spec: str | None, workdir: str | None) -> ml_collections.ConfigDict:
  """The config of `spec` (a config file, FILE[:ARG]) or else the config.json that the training
  loop wrote into `workdir`.

  Raises:
    ConfigError: a missing or unreadable file (one line naming it).
  """
  if spec:
    path, _, arg = spec.partition(":")
    if not os.path.isfile(path):
      raise ConfigError(f"{path}: no such config file")
    module_spec = importlib.util.spec_from_file_location("lp_run_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg or None)
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise ConfigError(f"{workdir}: no config.json (not a training workdir; pass --config)")
  try:
    with open(path, encoding="utf-8") as f:
      return config_json.from_json(json.load(f))
  except (ValueError, TypeError) as e:
    raise ConfigError(f"{path}: not a readable training config ({e})") from None

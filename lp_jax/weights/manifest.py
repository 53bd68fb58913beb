# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The `manifest.json` written beside every converted checkpoint, built in one place.

Every manifest holds `format` (LIVEPORTRAIT or AUXILIARY), `converter_version` and `created`
(UTC, seconds); the rest depends on who wrote it: the official-folder conversion records the
sha256 of every source file and what export needs to write them back bit for bit, training's
export and the synthetic demo weights record parameter counts, and an auxiliary conversion
records its source file and config.
"""

import datetime
import hashlib

import numpy as np
from flax import traverse_util

LIVEPORTRAIT = "lp_jax.liveportrait"
AUXILIARY = "lp_jax.auxiliary"
# Bumped when a conversion's output changes; it is part of the converted-weights cache key.
CONVERTER_VERSION = "1"


def create(format_name: str, **fields) -> dict:
  """A manifest of `format_name` with the common fields, plus `fields`."""
  return {
      "format": format_name,
      "converter_version": CONVERTER_VERSION,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      **fields,
  }


def param_count(variables: dict) -> int:
  """Number of trainable parameters (the `params` collection) of one network's variables."""
  return int(sum(np.size(a) for a in traverse_util.flatten_dict(variables.get("params",
                                                                                {})).values()))


def network_counts(networks: dict) -> dict:
  """{network: {"param_count": n}} for `networks` ({network: variables})."""
  return {name: {"param_count": param_count(v)} for name, v in networks.items()}


def sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Exporting trained LivePortrait networks as weights infer.py and config.init_from read.

The state types are in train_state, their initialisation in initializers / placement, loading
init_from in pretrained, and the per-stage assembly in stages / run.
"""

import jax
import numpy as np


def export(networks: dict, converted_dst: str, official_dst: str | None = None, *,
           model_variant: str = "official", force: bool = False) -> list[str]:
  """Writes trained `{network: variables}` as a converted lp_jax directory (what infer.py and
  config.init_from read) and, with `official_dst`, in the official .pth layout (needs torch).

  Returns the files written in the official layout (empty without official_dst).
  """
  import datetime  # pylint: disable=g-import-not-at-top

  from convert_weights import convert  # pylint: disable=g-import-not-at-top

  networks = {n: jax.tree.map(np.asarray, jax.device_get(v)) for n, v in networks.items()}
  manifest = {
      "format": "lp_jax.liveportrait",
      "converter_version": convert.CONVERTER_VERSION,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "source": "lp_jax.training",
      "model_config": model_variant,
      "base_dir": "base_models",
      "networks": {n: {"param_count": convert.param_count(v)} for n, v in networks.items()},
  }
  convert.save_orbax(converted_dst, networks, manifest, force=force)
  if official_dst is None:
    return []
  return convert.export_official(converted_dst, official_dst, force=force)

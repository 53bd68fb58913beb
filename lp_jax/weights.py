# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Loading LivePortrait weights: an official `.pth` folder (converted in memory) or an lp_jax
Orbax directory written by `python -m convert_weights`."""

import os

import jax
import numpy as np
from flax import traverse_util

from configs import models as model_configs
from lp_jax.models import liveportrait
from lp_jax.models.spade_generator import fold_spectral_norm


def load_variables(path: str, config=None) -> tuple[dict, dict]:
  """({network: variables (numpy)}, manifest) from `path`, validated against `config`.

  Raises:
    FileNotFoundError / ValueError with a one-line message naming the path and the problem.
  """
  from convert_weights import convert  # pylint: disable=g-import-not-at-top

  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path}: no such weights folder (expected base_models/*.pth and retargeting_models/"
        f"stitching_retargeting_module.pth; get them with {convert.DOWNLOAD_HINT})")
  try:
    if convert.is_orbax_dir(path):
      variables, manifest = convert.load_orbax(path)
      config = config or model_configs.get_config(manifest.get("model_config", "official"))
      check_shapes(variables, config, path)
    else:
      variables, manifest = convert.convert_official(path, config or model_configs.get_config())
  except convert.ConversionError as e:
    raise ValueError(str(e)) from None
  return variables, manifest


def check_shapes(variables: dict, config, label: str) -> None:
  """Raises ValueError unless every network's variables match the Flax model of `config`."""
  for name, var in variables.items():
    want = traverse_util.flatten_dict(liveportrait.abstract_variables(name, config))
    got = traverse_util.flatten_dict(var)
    for key in sorted(set(want) | set(got)):
      if key not in got or key not in want or tuple(want[key].shape) != np.shape(got[key]):
        raise ValueError(f"{label}: {name}/{'/'.join(key)} does not match the model config "
                         f"(expected {getattr(want.get(key), 'shape', None)}, got "
                         f"{np.shape(got[key]) if key in got else None})")


def for_inference(variables: dict) -> dict:
  """Folds spectral norm into the generator's kernels and moves everything to the device."""
  out = dict(variables)
  if "spade_generator" in out:
    out["spade_generator"] = fold_spectral_norm(out["spade_generator"])
  return jax.device_put(out)

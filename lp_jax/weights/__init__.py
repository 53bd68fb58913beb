# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The weights layer: loading LivePortrait weights for inference and training.

`load_variables` reads an official `.pth` folder (converted in memory, lp_jax.weights.official)
or an lp_jax Orbax directory written by `python -m convert_weights` (lp_jax.weights.orbax_dir);
`for_inference` prepares them for the device. The modules beside this one hold the formats:
torch checkpoints read without torch (torch_pth, torch_legacy on torch_tensors), the key rules,
the manifest, the shape check, the export back to `.pth` and the auxiliary training networks.
"""

import os

import jax

from lp_jax_configs import models as model_configs
from lp_jax.models.spade_generator import fold_spectral_norm
from lp_jax.weights import official, orbax_dir
from lp_jax.weights.errors import ConversionError
from lp_jax.weights.shapes import check_shapes

__all__ = ["check_shapes", "for_inference", "load_variables"]


def load_variables(path: str, config=None) -> tuple[dict, dict]:
  """({network: variables (numpy)}, manifest) from `path`, validated against `config`.

  Raises:
    FileNotFoundError / ValueError with a one-line message naming the path and the problem.
  """
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path}: no such weights folder (expected base_models/*.pth and retargeting_models/"
        f"stitching_retargeting_module.pth; get them with {official.DOWNLOAD_HINT})")
  try:
    if orbax_dir.is_orbax_dir(path):
      variables, manifest = orbax_dir.load(path)
      config = config or model_configs.get_config(manifest.get("model_config", "official"))
      check_shapes(variables, config, path)
    else:
      variables, manifest = official.convert_official(path, config or model_configs.get_config())
  except ConversionError as e:
    raise ValueError(str(e)) from None
  return variables, manifest


def for_inference(variables: dict) -> dict:
  """Folds spectral norm into the generator's kernels and moves everything to the device."""
  out = dict(variables)
  if "spade_generator" in out:
    out["spade_generator"] = fold_spectral_norm(out["spade_generator"])
  return jax.device_put(out)

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

from lp_jax import config_json
from lp_jax.errors import InputError, MissingFileError
from lp_jax.models import variants as model_configs
from lp_jax.models.spade_generator import fold_spectral_norm
from lp_jax.weights import official, orbax_dir
from lp_jax.weights.errors import ConversionError
from lp_jax.weights.shapes import check_shapes

__all__ = ["check_shapes", "for_inference", "input_sizes", "load_variables", "model_config"]

# The sides the official networks are fed: 256 crops for F and M. A trained model's manifest may
# record others: `image`, the resolution it was trained at (crops are first resized to it, so
# the networks see what they saw in training), then each network's own side.
OFFICIAL_INPUT_SIZES = {"image": 256, "appearance_feature_extractor": 256, "motion_extractor": 256}


def model_config(manifest: dict):
  """The model config of a converted directory: the whole config a training export records,
  else the model variant it names (lp_jax.models.variants)."""
  if "model" in manifest:
    return config_json.from_json(manifest["model"])
  return model_configs.get_config(manifest.get("model_config", "official"))


def input_sizes(manifest: dict) -> dict:
  """{"image", F, M: side} of a manifest (OFFICIAL_INPUT_SIZES where it records none)."""
  return {**OFFICIAL_INPUT_SIZES, **manifest.get("input_sizes", {})}


def load_variables(path: str, config=None) -> tuple[dict, dict]:
  """({network: variables (numpy)}, manifest) from `path`, validated against `config`.

  Raises:
    MissingFileError / InputError (UserErrors, still a FileNotFoundError / ValueError) with a
    one-line message naming the path and the problem.
  """
  if not os.path.exists(path):
    raise MissingFileError(
        f"{path}: no such weights folder (expected base_models/*.pth and retargeting_models/"
        f"stitching_retargeting_module.pth; get them with {official.DOWNLOAD_HINT})")
  try:
    if orbax_dir.is_orbax_dir(path):
      # Through the user cache: a second run reads the arrays without Orbax (orbax_dir).
      variables, manifest = orbax_dir.load(path, cache=True)
      config = config or model_config(manifest)
      check_shapes(variables, config, path)
    else:
      variables, manifest = official.convert_official(path, config or model_configs.get_config())
  except ConversionError as e:
    raise InputError(str(e)) from None
  return variables, manifest


def for_inference(variables: dict) -> dict:
  """Folds spectral norm into the generator's kernels and moves everything to the device."""
  out = dict(variables)
  if "spade_generator" in out:
    out["spade_generator"] = fold_spectral_norm(out["spade_generator"])
  return jax.device_put(out)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The official LivePortrait `.pth` folder, read into lp_jax variables (nothing written).

Official layout (`pretrained_weights/liveportrait`, or `liveportrait_animals`):

  base_models[_v1.1]/{appearance_feature_extractor,motion_extractor,warping_module,
                      spade_generator}.pth             plain state_dicts
  retargeting_models/stitching_retargeting_module.pth  {'retarget_shoulder': sd,
                                                        'retarget_mouth': sd, 'retarget_eye': sd}

The manifest returned with the variables records the sha256 of every source file, parameter
counts, and what lp_jax.weights.export needs to write the official files back bit for bit.
"""

import os

import numpy as np

from lp_jax.models import liveportrait
from lp_jax.weights import key_rules, manifest as manifest_lib
from lp_jax.weights.errors import CheckpointError, ConversionError
from lp_jax.weights.state_dicts import Mapping
from lp_jax.weights.torch_pth import load_pth

BASE_FILES = {
    "appearance_feature_extractor": "appearance_feature_extractor.pth",
    "motion_extractor": "motion_extractor.pth",
    "warping_module": "warping_module.pth",
    "spade_generator": "spade_generator.pth",
}
RETARGETING_FILE = "stitching_retargeting_module.pth"
RETARGETING_GROUPS = {"stitching": "retarget_shoulder", "lip": "retarget_mouth",
                      "eye": "retarget_eye"}
# Official base-model folders, newest first (the animal default is base_models_v1.1).
BASE_DIRS = ("base_models_v1.1", "base_models")
RETARGETING_DIR = "retargeting_models"
DOWNLOAD_HINT = ("huggingface-cli download KwaiVGI/LivePortrait --local-dir pretrained_weights "
                 "(then use pretrained_weights/liveportrait)")


def locate_official_files(src: str, retargeting_from: str | None = None
                          ) -> tuple[str, dict[str, str]]:
  """(base dir name, {network: path}) of the official files under `src`.

  `retargeting_from`: the folder whose retargeting_models/ to use instead of src's (the official
  animals pipeline runs the human stitching module).

  Raises ConversionError naming the expected files when no base model is found.
  """
  if not os.path.isdir(src):
    raise ConversionError(f"{src}: not a directory (expected the official weights folder with "
                          f"base_models/ and retargeting_models/; get it with {DOWNLOAD_HINT})")
  for base in BASE_DIRS:
    if os.path.isdir(os.path.join(src, base)):
      break
  else:
    raise ConversionError(
        f"{src}: no base_models/ or base_models_v1.1/ folder with "
        f"{', '.join(BASE_FILES.values())} (get them with {DOWNLOAD_HINT})")
  found, missing = {}, []
  for name, file in BASE_FILES.items():
    path = os.path.join(src, base, file)
    (found.__setitem__(name, path) if os.path.isfile(path) else missing.append(path))
  if missing:
    raise ConversionError(f"{src}: missing {', '.join(missing)} (get them with {DOWNLOAD_HINT})")
  retarget = os.path.join(retargeting_from or src, RETARGETING_DIR, RETARGETING_FILE)
  if os.path.isfile(retarget):
    for name in RETARGETING_GROUPS:
      found[name] = retarget
  return base, found


def state_dict_to_variables(state_dict: dict, abstract: dict, label: str
                            ) -> tuple[dict, dict, list[str]]:
  """Maps one PyTorch state_dict onto the Flax variables described by `abstract`.

  Returns (variables, info, problems); `info` records what export needs (key order, DDP prefix,
  num_batches_tracked values). `problems` lists missing / unexpected keys and shape mismatches.
  """
  mapping = Mapping(abstract, label)
  spectral = {k[1:-1] for k in mapping.expected if k[0] == "spectral"}
  info = {"key_order": [], "module_prefix": False, "num_batches_tracked": {}}
  for raw_key, value in state_dict.items():
    key = key_rules.strip_ddp(raw_key)
    info["module_prefix"] |= key != raw_key
    info["key_order"].append(key)
    if not isinstance(value, np.ndarray):
      mapping.problems.append(f"{label}: {raw_key}: not a tensor ({type(value).__name__})")
      continue
    try:
      mapped = key_rules.torch_key_to_flax(key, value.ndim)
    except key_rules.UnknownKeyError:
      mapping.unexpected(raw_key, value)
      continue
    if mapped is None:
      # Kept in the manifest (shape and values) so export writes the file back bit for bit.
      info["num_batches_tracked"][key] = {"shape": list(value.shape),
                                          "values": value.reshape(-1).tolist()}
      continue
    mapping.place(raw_key, value, mapped)
  variables, problems = mapping.finish(
      lambda target, ndim: key_rules.flax_to_torch_key(target[0], target[1:], ndim, spectral))
  return variables, info, problems


def convert_official(src: str, config, retargeting_from: str | None = None
                     ) -> tuple[dict, dict]:
  """Reads the official folder into ({network: variables}, manifest); nothing is written.

  Raises ConversionError listing every problem (missing / unexpected keys, shape mismatches,
  unreadable or unsafe files).
  """
  base, files = locate_official_files(src, retargeting_from)
  loaded, problems = {}, []
  for path in sorted(set(files.values())):
    try:
      loaded[path] = load_pth(path)
    except CheckpointError as e:
      problems.append(str(e))
  if problems:
    raise ConversionError(problems[0], problems)
  variables, manifest_nets, file_info = {}, {}, {}
  for path in sorted(set(files.values())):
    rel = os.path.relpath(path, src)
    file_info[rel] = {"sha256": manifest_lib.sha256(path), "bytes": os.path.getsize(path)}
  for name, path in files.items():
    rel = os.path.relpath(path, src)
    obj = loaded[path]
    group = RETARGETING_GROUPS.get(name)
    if group is not None:
      if not isinstance(obj, dict) or group not in obj:
        problems.append(f"{path}: missing entry {group!r} (expected a dict with "
                        f"{', '.join(RETARGETING_GROUPS.values())})")
        continue
      obj = obj[group]
    if not isinstance(obj, dict):
      problems.append(f"{path}: expected a state_dict, got {type(obj).__name__}")
      continue
    label = f"{path}" + (f"[{group}]" if group else "")
    var, info, probs = state_dict_to_variables(obj, liveportrait.abstract_variables(name, config),
                                               label)
    problems += probs
    variables[name] = var
    manifest_nets[name] = {"file": rel, "group": group,
                           "param_count": manifest_lib.param_count(var), **info}
  if problems:
    raise ConversionError(f"{len(problems)} problem(s) converting {src}; first: {problems[0]}",
                          problems)
  manifest = manifest_lib.create(manifest_lib.LIVEPORTRAIT, source=os.path.abspath(src),
                                 base_dir=base, files=file_info, networks=manifest_nets)
  return variables, manifest

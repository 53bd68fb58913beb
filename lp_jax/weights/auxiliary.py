# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Upstream auxiliary-network checkpoints (Stage I training) -> lp_jax variables, and loading
them from either form.

Sources: torchvision's `vgg19()` state dict (only `features.*` up to relu5_1 is used; the
classifier and the convolutions after relu5_1 are dropped), deep-head-pose's HopeNet state
dict (its vestigial `fc_finetune` is dropped), insightface arcface_torch's IResNet
`backbone.pth`. Both torch.save containers are read without torch and without running pickle
code: the zip format by lp_jax.weights.torch_pth and the legacy (pre-1.6) stream, which older
files such as the 2017 torchvision VGG and 2018 HopeNet ones use, by lp_jax.weights.torch_legacy.

Rules (torch key -> Flax path): the shared `key_rules.torch_key_to_flax` (module names equal the
torch attribute names; conv OIHW -> HWIO, linear .T, norm weight -> scale, running stats ->
`batch_stats`, num_batches_tracked dropped) plus PReLU `prelu.weight` -> `prelu/negative_slope`.
Every problem (missing / unexpected key, wrong shape, unreadable file) is one line.
"""

import os
import re
import typing

import ml_collections
import numpy as np

from lp_jax.errors import InputError, MissingFileError
from lp_jax.models import auxiliary
from lp_jax.models.auxiliary import vgg19
from lp_jax.weights import key_rules, manifest as manifest_lib, orbax_dir, shapes
from lp_jax.weights.errors import CheckpointError, ConversionError
from lp_jax.weights.state_dicts import Mapping
from lp_jax.weights.torch_legacy import load_legacy
from lp_jax.weights.torch_pth import LEGACY_MAGIC, load_pth

KINDS = auxiliary.PRETRAINED_KINDS
SOURCE_HINTS = {
    "vgg19": "torchvision's vgg19-dcbb9e9d.pth (torchvision.models.vgg19(weights='IMAGENET1K_V1'))",
    "hopenet": "hopenet_robust_alpha1.pkl from github.com/natanielruiz/deep-head-pose",
    "arcface": "an insightface arcface_torch backbone.pth (iresnet50 / iresnet100)",
}


def dropped_key(kind: str, key: str, aux_config) -> bool:
  """Keys of the upstream file that the lp_jax module deliberately does not have."""
  if key.endswith(".num_batches_tracked"):
    return True  # BatchNorm bookkeeping, unused by the math
  if kind == "vgg19":
    if key.startswith("classifier."):
      return True  # the ImageNet head; the loss uses features only
    m = re.fullmatch(r"features\.(\d+)\.(weight|bias)", key)
    # Convolutions after relu5_1 (features.30/32/34) do not influence the five outputs.
    return bool(m) and int(m.group(1)) > max(vgg19.conv_indices(aux_config.vgg19.widths))
  if kind == "hopenet":
    return key.startswith("fc_finetune.")  # "vestigial layer from previous experiments"
  return False


def torch_key_to_flax(key: str, ndim: int) -> tuple[str, tuple[str, ...], str]:
  """(collection, Flax path incl. leaf, layout) of a kept key; key_rules.UnknownKeyError if none."""
  path, leaf = key_rules.module_path(key)
  if path and path[-1] == "prelu" and leaf == "weight":
    return "params", path + ("negative_slope",), "same"
  mapped = key_rules.torch_key_to_flax(key, ndim)
  if mapped is None:  # a dropped leaf that dropped_key did not catch
    raise key_rules.UnknownKeyError(key)
  return mapped


def flax_to_torch_key(target: tuple[str, ...], ndim: int) -> tuple[str, str]:
  """Inverse of `torch_key_to_flax`, for naming missing keys."""
  collection, *path = target
  if path[-1] == "negative_slope":
    return ".".join(path[:-1] + ["weight"]), "same"
  return key_rules.flax_to_torch_key(collection, tuple(path), ndim, set())


def state_dict_to_variables(kind: str, state_dict: dict, aux_config, label: str
                            ) -> tuple[dict, dict, list[str]]:
  """Maps an upstream state dict onto the Flax variables of `aux_config[kind]`.

  Returns (variables, info, problems): info lists the kept key order and the dropped keys;
  problems has one line per missing / unexpected key or wrong shape.
  """
  mapping = Mapping(auxiliary.abstract_variables(kind, aux_config), label)
  info = {"key_order": [], "dropped_keys": [], "module_prefix": False}
  for raw_key, value in state_dict.items():
    if not isinstance(raw_key, str):
      mapping.problems.append(f"{label}: non-string key {raw_key!r:.80}")
      continue
    key = key_rules.strip_ddp(raw_key)
    info["module_prefix"] |= key != raw_key
    if not isinstance(value, np.ndarray):
      mapping.problems.append(f"{label}: {raw_key}: not a tensor ({type(value).__name__})")
      continue
    if dropped_key(kind, key, aux_config):
      info["dropped_keys"].append(key)
      continue
    try:
      mapped = torch_key_to_flax(key, value.ndim)
    except key_rules.UnknownKeyError:
      mapping.unexpected(raw_key, value)
      continue
    if mapping.place(raw_key, value, mapped, float_only=True):
      info["key_order"].append(key)
  variables, problems = mapping.finish(flax_to_torch_key)
  return variables, info, problems


def _file_layers(state_dict: dict) -> tuple[int, ...] | None:
  """Blocks per stage of a ResNet-style state dict, from its `layerK.N.` keys."""
  depth = {}
  for key in state_dict:
    m = re.match(r"(?:module\.)?layer(\d)\.(\d+)\.", str(key))
    if m:
      stage, block = int(m.group(1)), int(m.group(2))
      depth[stage] = max(depth.get(stage, 0), block + 1)
  return tuple(depth[k] for k in sorted(depth)) if depth else None


def read_checkpoint(path: str) -> typing.Any:
  """The object saved in a torch file (zip or legacy format), tensors as numpy arrays."""
  try:
    with open(path, "rb") as f:
      head = f.read(4)
  except OSError:
    head = b""  # load_pth reports the exact reason (missing, a directory, unreadable)
  if head == LEGACY_MAGIC:
    return load_legacy(path)
  return load_pth(path)


def convert_aux(kind: str, src: str, aux_config) -> tuple[dict, dict]:
  """Reads one upstream checkpoint into (variables, manifest); nothing is written.

  Raises ConversionError listing every problem.
  """
  if kind not in KINDS:
    raise ConversionError(f"unknown auxiliary network {kind!r} (use {', '.join(KINDS)})")
  try:
    obj = read_checkpoint(src)
  except CheckpointError as e:
    raise ConversionError(str(e), [str(e)]) from None
  if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
    obj = obj["state_dict"]  # a training checkpoint that wraps the weights
  if not isinstance(obj, dict):
    msg = f"{src}: expected a state_dict, got {type(obj).__name__} ({SOURCE_HINTS[kind]})"
    raise ConversionError(msg, [msg])
  variables, info, problems = state_dict_to_variables(kind, obj, aux_config, src)
  if problems and kind in ("hopenet", "arcface"):
    depth = _file_layers(obj)
    if depth and depth != tuple(aux_config[kind].layers):
      hint = " (pass --aux_config arcface=r50 / r100 ...)" if kind == "arcface" else ""
      problems.insert(0, f"{src}: the file has {kind} blocks per stage {depth}, the config "
                         f"{tuple(aux_config[kind].layers)}: set aux.{kind}.layers{hint}")
    raise ConversionError(f"{len(problems)} problem(s) converting {src} as {kind}; first: "
                          f"{problems[0]}", problems)
  manifest = manifest_lib.create(
      manifest_lib.AUXILIARY, kind=kind, source=os.path.abspath(src),
      sha256=manifest_lib.sha256(src), bytes=os.path.getsize(src),
      config={k: list(v) if isinstance(v, tuple) else v
              for k, v in dict(aux_config[kind]).items()},
      param_count=manifest_lib.param_count(variables), **info)
  return variables, manifest


def load_variables(kind: str, path: str, aux_config: ml_collections.ConfigDict) -> dict:
  """Variables (numpy) of `kind` from a converted directory or the upstream .pth / .pkl file.

  A directory must be `python -m convert_weights --aux KIND` output for the same kind; a file
  is converted in memory (torchvision VGG-19, hopenet_robust_alpha1.pkl, arcface_torch
  backbone.pth). Shapes are checked against `aux_config[kind]`.

  Raises:
    MissingFileError / InputError (UserErrors, still a FileNotFoundError / ValueError) with a
    one-line message naming `path` and the problem.
  """
  if kind not in KINDS:
    raise KeyError(f"{kind!r} has no pretrained weights; expected one of {KINDS}")
  if not os.path.exists(path):
    raise MissingFileError(f"{path}: no such {kind} weights file or directory "
                           f"({SOURCE_HINTS[kind]})")
  try:
    if os.path.isdir(path):
      tree, manifest = orbax_dir.load(path)
      if manifest.get("format") != manifest_lib.AUXILIARY or kind not in tree:
        raise InputError(f"{path}: holds {manifest.get('kind') or manifest.get('format')!r} "
                         f"weights, not {kind!r} (convert with python -m convert_weights "
                         f"--aux {kind})")
      variables = tree[kind]
      check_shapes(kind, variables, aux_config, path)
    else:
      variables, _ = convert_aux(kind, path, aux_config)
  except ConversionError as e:
    raise InputError(str(e)) from None
  return variables


def check_shapes(kind: str, variables: dict, aux_config: ml_collections.ConfigDict,
                 label: str) -> None:
  """Raises InputError (one line naming `label`) unless `variables` fit `aux_config[kind]`."""
  bad = shapes.mismatches(auxiliary.abstract_variables(kind, aux_config), variables)
  if bad:
    key, want, got = bad[0]
    raise InputError(f"{label}: {kind} variable {'/'.join(key)} does not match the auxiliary "
                     f"config (expected {want}, got {got}); convert with the same --aux_config "
                     "as the training config")

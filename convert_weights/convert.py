# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Official LivePortrait `.pth` folder <-> lp_jax Orbax checkpoint.

Official layout (`pretrained_weights/liveportrait`, or `liveportrait_animals`):

  base_models[_v1.1]/{appearance_feature_extractor,motion_extractor,warping_module,
                      spade_generator}.pth             plain state_dicts
  retargeting_models/stitching_retargeting_module.pth  {'retarget_shoulder': sd,
                                                        'retarget_mouth': sd, 'retarget_eye': sd}

lp_jax layout (`--dst`): `checkpoint/` (Orbax, one pytree {network: variables}) and
`manifest.json` (sha256 of every source file, parameter counts, converter version, and what
export needs to write the official files back bit for bit).
"""

import datetime
import hashlib
import json
import os
import re
import shutil
from collections import OrderedDict

import numpy as np
from flax import traverse_util

from convert_weights import rules
from convert_weights.torch_pickle import CheckpointError, load_pth

CONVERTER_VERSION = "1"
MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint"
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


class ConversionError(Exception):
  """A conversion that must not write anything; `problems` lists one line per problem."""

  def __init__(self, message: str, problems: list[str] | None = None):
    super().__init__(message)
    self.problems = problems or []


def sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


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


def strip_ddp(key: str) -> str:
  """Removes DDP `module.` prefixes wherever a path segment starts with one."""
  return re.sub(r"(^|\.)module\.", r"\1", key)


def _torch_shape(shape: tuple, layout: str) -> tuple:
  if layout == "conv":
    return (shape[-1], shape[-2], *shape[:-2])
  if layout == "linear":
    return tuple(reversed(shape))
  return tuple(shape)


def state_dict_to_variables(state_dict: dict, abstract: dict, label: str
                            ) -> tuple[dict, dict, list[str]]:
  """Maps one PyTorch state_dict onto the Flax variables described by `abstract`.

  Returns (variables, info, problems); `info` records what export needs (key order, DDP prefix,
  num_batches_tracked values). `problems` lists missing / unexpected keys and shape mismatches.
  """
  expected = traverse_util.flatten_dict(abstract)
  spectral = {k[1:-1] for k in expected if k[0] == "spectral"}
  flat, seen, problems = {}, set(), []
  info = {"key_order": [], "module_prefix": False, "num_batches_tracked": {}}
  for raw_key, value in state_dict.items():
    key = strip_ddp(raw_key)
    info["module_prefix"] |= key != raw_key
    info["key_order"].append(key)
    if not isinstance(value, np.ndarray):
      problems.append(f"{label}: {raw_key}: not a tensor ({type(value).__name__})")
      continue
    try:
      mapped = rules.torch_key_to_flax(key, value.ndim)
    except rules.UnknownKeyError:
      problems.append(f"{label}: unexpected key {raw_key} {tuple(value.shape)}")
      continue
    if mapped is None:
      # Kept in the manifest (shape and values) so export writes the file back bit for bit.
      info["num_batches_tracked"][key] = {"shape": list(value.shape),
                                          "values": value.reshape(-1).tolist()}
      continue
    collection, path, layout = mapped
    target = (collection,) + path
    if target not in expected:
      problems.append(f"{label}: unexpected key {raw_key} {tuple(value.shape)}")
      continue
    seen.add(target)
    want = expected[target].shape
    if _torch_shape(want, layout) != tuple(value.shape):
      problems.append(f"{label}: {raw_key}: expected shape {_torch_shape(want, layout)}, "
                      f"got {tuple(value.shape)}")
      continue
    flat[target] = rules.to_flax_layout(value.astype(np.float32, copy=False), layout)
  for target, leaf in expected.items():
    if target not in seen:
      key, layout = rules.flax_to_torch_key(target[0], target[1:], len(leaf.shape), spectral)
      problems.append(f"{label}: missing key {key} (expected shape "
                      f"{_torch_shape(leaf.shape, layout)})")
  return traverse_util.unflatten_dict(flat), info, problems


def param_count(variables: dict) -> int:
  return int(sum(np.size(a) for a in traverse_util.flatten_dict(variables.get("params",
                                                                                {})).values()))


def convert_official(src: str, config, retargeting_from: str | None = None
                     ) -> tuple[dict, dict]:
  """Reads the official folder into ({network: variables}, manifest); nothing is written.

  Raises ConversionError listing every problem (missing / unexpected keys, shape mismatches,
  unreadable or unsafe files).
  """
  from lp_jax.models import liveportrait  # pylint: disable=g-import-not-at-top

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
    file_info[rel] = {"sha256": sha256(path), "bytes": os.path.getsize(path)}
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
    manifest_nets[name] = {"file": rel, "group": group, "param_count": param_count(var), **info}
  if problems:
    raise ConversionError(f"{len(problems)} problem(s) converting {src}; first: {problems[0]}",
                          problems)
  manifest = {
      "format": "lp_jax.liveportrait",
      "converter_version": CONVERTER_VERSION,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "source": os.path.abspath(src),
      "base_dir": base,
      "files": file_info,
      "networks": manifest_nets,
  }
  return variables, manifest


def check_destination(dst: str, force: bool) -> None:
  """Refuses a non-empty `dst` unless forced (called before any work, and again when saving)."""
  occupied = os.path.isfile(dst) or (os.path.isdir(dst) and os.listdir(dst))
  if occupied and not force:
    raise ConversionError(f"{dst}: already exists and is not empty (pass --force to replace it)")


def save_orbax(dst: str, variables: dict, manifest: dict, force: bool = False) -> None:
  """Writes checkpoint/ and manifest.json into `dst` atomically (a temp dir, then a rename)."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  dst = os.path.abspath(dst)
  check_destination(dst, force)
  tmp = f"{dst}.partial-{os.getpid()}"
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  try:
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(os.path.join(tmp, CHECKPOINT), variables)
    ckpt.wait_until_finished()
    with open(os.path.join(tmp, MANIFEST), "w") as f:
      json.dump(manifest, f, indent=1, sort_keys=True)
    if os.path.isdir(dst):
      shutil.rmtree(dst)
    elif os.path.exists(dst):
      os.remove(dst)
    os.rename(tmp, dst)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def is_orbax_dir(path: str) -> bool:
  return os.path.isfile(os.path.join(path, MANIFEST)) and os.path.isdir(
      os.path.join(path, CHECKPOINT))


def load_orbax(path: str) -> tuple[dict, dict]:
  """({network: variables as numpy}, manifest) from a converted directory."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  if not is_orbax_dir(path):
    raise ConversionError(f"{path}: not an lp_jax checkpoint (expected {MANIFEST} and "
                          f"{CHECKPOINT}/ written by `python -m convert_weights`)")
  with open(os.path.join(path, MANIFEST)) as f:
    manifest = json.load(f)
  ckpt = ocp.StandardCheckpointer()
  tree = ckpt.restore(os.path.abspath(os.path.join(path, CHECKPOINT)))
  tree = {k: _to_numpy(v) for k, v in tree.items()}
  return tree, manifest


def _to_numpy(tree):
  if isinstance(tree, dict):
    return {k: _to_numpy(v) for k, v in tree.items()}
  return np.asarray(tree)


def variables_to_state_dict(variables: dict, info: dict | None) -> OrderedDict:
  """Flax variables of one network -> PyTorch state_dict of numpy arrays (official order)."""
  flat = traverse_util.flatten_dict(variables)
  spectral = {tuple(k[1:-1]) for k in flat if k[0] == "spectral"}
  out = {}
  for (collection, *path), value in flat.items():
    key, layout = rules.flax_to_torch_key(collection, tuple(path), np.ndim(value), spectral)
    out[key] = rules.to_torch_layout(np.asarray(value), layout)
  nbt = (info or {}).get("num_batches_tracked", {})
  for key in [k for k in out if k.endswith(".running_var")]:
    nbt_key = key[: -len("running_var")] + "num_batches_tracked"
    rec = nbt.get(nbt_key, {"shape": [], "values": [0]})
    out[nbt_key] = np.array(rec["values"], np.int64).reshape(rec["shape"])
  order = [k for k in (info or {}).get("key_order", []) if k in out]
  order += sorted(k for k in out if k not in set(order))
  return OrderedDict((k, out[k]) for k in order)


def export_official(src: str, dst: str, force: bool = False) -> list[str]:
  """Writes the official folder layout from an lp_jax checkpoint; returns the files written.

  Needs torch (the official format is torch.save's). Files go to a temp name, then a rename.
  """
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ConversionError("export writes torch .pth files and needs torch: "
                          "pip install torch") from e
  check_destination(dst, force)
  variables, manifest = load_orbax(src)
  nets = manifest.get("networks", {})
  base = manifest.get("base_dir", "base_models")
  # A fresh C-order copy, not ascontiguousarray: that turns a 0-d num_batches_tracked (what
  # BatchNorm saves) into shape (1,), and leaves a transposed (768, 1) kernel its stride (1, 1)
  # as (1, 768), which torch.save pickles, so the file would differ from the official one.
  to_torch = lambda sd: OrderedDict((k, torch.from_numpy(np.array(v, order="C")))
                                    for k, v in sd.items())
  payloads = {}
  for name, file in BASE_FILES.items():
    if name in variables:
      payloads[os.path.join(base, file)] = to_torch(variables_to_state_dict(variables[name],
                                                                            nets.get(name)))
  groups = {}
  for name, group in RETARGETING_GROUPS.items():
    if name in variables:
      info = nets.get(name, {})
      sd = variables_to_state_dict(variables[name], info)
      prefix = "module." if info.get("module_prefix", True) else ""
      groups[group] = to_torch(OrderedDict((prefix + k, v) for k, v in sd.items()))
  if groups:
    payloads[os.path.join(RETARGETING_DIR, RETARGETING_FILE)] = groups
  written = []
  for rel, payload in payloads.items():
    path = os.path.join(dst, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # torch.save names the zip's inner folder after the file name minus its last extension, so
    # the temp name must keep the stem ("x.partial-N", not "x.pth.partial-N") for the written
    # file to match the official one byte for byte.
    tmp = f"{os.path.splitext(path)[0]}.partial-{os.getpid()}"
    torch.save(payload, tmp)
    os.replace(tmp, path)
    written.append(path)
  return written

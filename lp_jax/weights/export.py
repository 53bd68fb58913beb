# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax variables -> the official `.pth` folder layout (lp_jax.weights.official, reversed)."""

import os
from collections import OrderedDict

import numpy as np
from flax import traverse_util

from lp_jax.io import outputs
from lp_jax.weights import key_rules, manifest as manifest_lib, orbax_dir
from lp_jax.weights.errors import ConversionError
from lp_jax.weights.official import (BASE_FILES, RETARGETING_DIR, RETARGETING_FILE,
                                     RETARGETING_GROUPS)


def variables_to_state_dict(variables: dict, info: dict | None) -> OrderedDict:
  """Flax variables of one network -> PyTorch state_dict of numpy arrays (official order)."""
  flat = traverse_util.flatten_dict(variables)
  spectral = {tuple(k[1:-1]) for k in flat if k[0] == "spectral"}
  out = {}
  for (collection, *path), value in flat.items():
    key, layout = key_rules.flax_to_torch_key(collection, tuple(path), np.ndim(value), spectral)
    out[key] = key_rules.to_torch_layout(np.asarray(value), layout)
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
    # Lazy: torch is optional (only export needs it) and slow to import.
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ConversionError("export writes torch .pth files and needs torch: "
                          "pip install torch") from e
  orbax_dir.check_destination(dst, force)
  variables, manifest = orbax_dir.load(src)
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
    # the temporary name has no extension ("x.partial-N", not "x.partial-N.pth") for the
    # written file to match the official one byte for byte.
    with outputs.replacing(path, ext="") as tmp:
      torch.save(payload, tmp)
    written.append(path)
  return written


def export_trained(networks: dict, converted_dst: str, official_dst: str | None = None, *,
                   model_variant: str = "official", model: dict | None = None,
                   input_sizes: dict | None = None, force: bool = False,
                   **fields) -> list[str]:
  """Writes trained `{network: host variables}` as a converted lp_jax directory (what infer.py
  and config.init_from read) and, with `official_dst`, in the official .pth layout (needs torch).

  `model` (the run's whole model config, as a dict) and `input_sizes` (lp_jax.weights
  OFFICIAL_INPUT_SIZES' keys) go into the manifest, so that inference builds the networks the
  run trained and feeds them what they saw; `fields` (provenance) go in as they are.
  Returns the files written in the official layout (empty without official_dst).
  """
  extra = {"model": model} if model is not None else {}
  if input_sizes is not None:
    extra["input_sizes"] = {k: int(v) for k, v in input_sizes.items()}
  manifest = manifest_lib.create(manifest_lib.LIVEPORTRAIT, source="lp_jax.training",
                                 model_config=model_variant, base_dir="base_models",
                                 networks=manifest_lib.network_counts(networks), **extra,
                                 **fields)
  orbax_dir.save(converted_dst, networks, manifest, force=force)
  if official_dst is None:
    return []
  return export_official(converted_dst, official_dst, force=force)

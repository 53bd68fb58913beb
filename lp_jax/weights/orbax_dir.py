# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A converted-weights directory: `checkpoint/` (Orbax, one pytree {network: variables}) and
`manifest.json` (lp_jax.weights.manifest), written atomically."""

import json
import os

import numpy as np
import orbax.checkpoint as ocp

from lp_jax.io import outputs
from lp_jax.weights.errors import ConversionError

MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint"


def check_destination(dst: str, force: bool) -> None:
  """Refuses a non-empty `dst` unless forced (called before any work, and again when saving)."""
  occupied = os.path.isfile(dst) or (os.path.isdir(dst) and os.listdir(dst))
  if occupied and not force:
    raise ConversionError(f"{dst}: already exists and is not empty (pass --force to replace it)")


def save(dst: str, variables: dict, manifest: dict, force: bool = False) -> None:
  """Writes checkpoint/ and manifest.json into `dst` atomically (a temp dir, then a rename)."""
  dst = os.path.abspath(dst)
  check_destination(dst, force)
  with outputs.replacing(dst) as tmp:
    os.makedirs(tmp)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(os.path.join(tmp, CHECKPOINT), variables)
    ckpt.wait_until_finished()
    with open(os.path.join(tmp, MANIFEST), "w") as f:
      json.dump(manifest, f, indent=1, sort_keys=True)


def is_orbax_dir(path: str) -> bool:
  return os.path.isfile(os.path.join(path, MANIFEST)) and os.path.isdir(
      os.path.join(path, CHECKPOINT))


def read_manifest(path: str) -> dict:
  """The manifest of the converted directory `path` (OSError / ValueError when unreadable)."""
  with open(os.path.join(path, MANIFEST)) as f:
    return json.load(f)


def load(path: str) -> tuple[dict, dict]:
  """({network: variables as numpy}, manifest) from a converted directory."""
  if not is_orbax_dir(path):
    raise ConversionError(f"{path}: not an lp_jax checkpoint (expected {MANIFEST} and "
                          f"{CHECKPOINT}/ written by `python -m convert_weights`)")
  try:
    manifest = read_manifest(path)
  except ValueError as e:  # a damaged file is the user's to fix, not a bug: one line
    raise ConversionError(f"{path}: {MANIFEST} is not valid JSON ({e})") from None
  ckpt = ocp.StandardCheckpointer()
  tree = ckpt.restore(os.path.abspath(os.path.join(path, CHECKPOINT)))
  tree = {k: _to_numpy(v) for k, v in tree.items()}
  return tree, manifest


def _to_numpy(tree):
  if isinstance(tree, dict):
    return {k: _to_numpy(v) for k, v in tree.items()}
  return np.asarray(tree)

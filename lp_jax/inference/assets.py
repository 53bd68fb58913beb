# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Where weights come from: the official folder (converted once and cached), a converted
directory, the bundled demo model, or a small synthetic checkpoint for tests."""

import hashlib
import os

from lp_jax import user_cache
from lp_jax.errors import MissingFileError
from lp_jax.models import random_weights
from lp_jax.models import variants as model_configs
from lp_jax.weights import manifest as manifest_lib, official, orbax_dir

FACE_MODEL_FILES = ("insightface/models/buffalo_l/det_10g.onnx",
                    "insightface/models/buffalo_l/2d106det.onnx",
                    "liveportrait/landmark.onnx")

# What `make demo` and the app run without the official weights: the small model that
# `make train-demo` and `make train-demo-stage2` trained, written by
# lp_jax.training.export_workdir (docs/training.md, "The demo model").
DEMO_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "resources", "demo_model")


def cache_root() -> str:
  return user_cache.root()


def compilation_cache(path: str | None) -> str:
  """The JAX persistent compilation cache folder ('' disables it; None: JAX's own
  JAX_COMPILATION_CACHE_DIR when the user set one, else under cache_root())."""
  if path is not None:
    return path
  return os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join(cache_root(), "jax")


def resolve(path: str, animal: bool = False) -> tuple[str, str | None]:
  """(network weights: official liveportrait folder or converted dir, pretrained_weights root
  holding the ONNX face models or None) for a user-given path.

  Accepts the `pretrained_weights` root, its `liveportrait` (or `liveportrait_animals`) folder,
  or a directory written by `python -m convert_weights`. With `animal`, the root resolves to its
  `liveportrait_animals` folder.
  """
  path = os.path.abspath(path)
  if not os.path.isdir(path):
    raise MissingFileError(
        f"{path}: no weights folder (expected pretrained_weights/ with liveportrait/base_models/"
        f"*.pth; get it with {official.DOWNLOAD_HINT}, or convert it with python -m "
        f"convert_weights)")
  if orbax_dir.is_orbax_dir(path):
    return path, None
  sub = "liveportrait_animals" if animal else "liveportrait"
  if animal and not os.path.isdir(os.path.join(path, sub)) and os.path.isdir(
      os.path.join(path, "liveportrait")):
    raise MissingFileError(f"{path}: no liveportrait_animals/ folder (the animals weights; get "
                           f"them with {official.DOWNLOAD_HINT})")
  if os.path.isdir(os.path.join(path, sub)):
    return os.path.join(path, sub), path
  parent = os.path.dirname(path)
  has_faces = any(os.path.exists(os.path.join(parent, f)) for f in FACE_MODEL_FILES)
  return path, parent if has_faces else None


def _fingerprint(folder: str) -> str:
  """A cache key from the relative path, size and mtime of every .pth file under `folder`."""
  digest = hashlib.sha256(manifest_lib.CONVERTER_VERSION.encode())
  for root, _, files in sorted(os.walk(folder)):
    for name in sorted(f for f in files if f.endswith(".pth")):
      full = os.path.join(root, name)
      st = os.stat(full)
      digest.update(f"{os.path.relpath(full, folder)}:{st.st_size}:{st.st_mtime_ns};".encode())
  return digest.hexdigest()[:24]


def human_retargeting(path: str) -> str | None:
  """For an official `liveportrait_animals` folder, the sibling `liveportrait` folder whose
  stitching module the official animals pipeline runs (None when absent or not animals)."""
  human = os.path.join(os.path.dirname(os.path.abspath(path)), "liveportrait")
  if os.path.basename(os.path.abspath(path)) != "liveportrait_animals":
    return None
  return human if os.path.isfile(os.path.join(human, official.RETARGETING_DIR,
                                              official.RETARGETING_FILE)) else None


def converted(path: str, config=None) -> str:
  """A converted directory for `path`: itself if already converted, else a cached conversion
  of the official folder (made on first use, reused while the .pth files are unchanged).

  An animals folder is converted with the human stitching module beside it, as the official
  animals pipeline loads it."""
  if orbax_dir.is_orbax_dir(path):
    return path
  human = human_retargeting(path)
  key = _fingerprint(path) + (_fingerprint(human) if human else "")
  dst = os.path.join(cache_root(), "weights", hashlib.sha256(key.encode()).hexdigest()[:24]
                     if human else key)
  if not orbax_dir.is_orbax_dir(dst):
    variables, manifest = official.convert_official(path, config or model_configs.get_config(),
                                                    retargeting_from=human)
    manifest["model_config"] = "official"
    orbax_dir.save(dst, variables, manifest, force=True)
  return dst


def write_synthetic(dst: str, model_config: str = "tiny", seed: int = 0) -> str:
  """Random weights of `model_config` as a converted directory, marked synthetic (untrained)."""
  variables = random_weights.random_networks(model_configs.get_config(model_config), seed)
  manifest = manifest_lib.create(
      manifest_lib.LIVEPORTRAIT,
      synthetic=True,  # random, untrained weights: outputs are not LivePortrait's
      model_config=model_config, networks=manifest_lib.network_counts(variables))
  orbax_dir.save(dst, variables, manifest, force=True)
  return dst


def manifest_field(path: str, key: str, default=None):
  """`key` of the manifest of the converted directory `path` (`default` when the directory, its
  manifest or the key is missing)."""
  try:
    return orbax_dir.read_manifest(path).get(key, default)
  except (OSError, ValueError):
    return default


def description(path: str) -> str:
  """The `description` a converted directory's manifest records ('' if none)."""
  return str(manifest_field(path, "description", ""))


def is_synthetic(path: str) -> bool:
  return bool(manifest_field(path, "synthetic"))

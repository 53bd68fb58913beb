# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Auxiliary networks of Stage I training, by kind: construction, initialisation, loading.

Kinds: `vgg19` (perceptual pyramid), `hopenet` (head pose), `arcface` (identity) with
pretrained weights, and `discriminator` (multi-scale patch GAN, trained from scratch). Every
network takes NHWC RGB in [0, 1] and normalises internally. Hyper-parameters come from
`configs/auxiliary.py`.
"""

import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import traverse_util

from lp_jax.models.auxiliary.arcface import ArcFace
from lp_jax.models.auxiliary.discriminator import MultiScaleDiscriminator, min_input_size
from lp_jax.models.auxiliary.hopenet import HopeNet
from lp_jax.models.auxiliary.vgg19 import Vgg19

PRETRAINED_KINDS = ("vgg19", "hopenet", "arcface")
KINDS = PRETRAINED_KINDS + ("discriminator",)


def build(kind: str, aux_config: ml_collections.ConfigDict, *, dtype=jnp.float32) -> nn.Module:
  """The Flax module of `kind` with the hyper-parameters of `aux_config[kind]`."""
  if kind not in KINDS:
    raise KeyError(f"unknown auxiliary network {kind!r}; expected one of {KINDS}")
  # Tuples, not lists: modules are hashable static arguments of jitted functions.
  kw = {k: tuple(v) if isinstance(v, (list, tuple)) else v
        for k, v in dict(aux_config[kind]).items()}
  cls = {"vgg19": Vgg19, "hopenet": HopeNet, "arcface": ArcFace,
         "discriminator": MultiScaleDiscriminator}[kind]
  return cls(**kw, dtype=dtype)


def example_input(kind: str, aux_config: ml_collections.ConfigDict, batch: int = 1) -> jax.Array:
  """A zero image batch of the smallest convenient size for `init` / `eval_shape`."""
  cfg = aux_config[kind]
  if kind == "vgg19":
    side = 16  # variables do not depend on the size; 16 keeps four pools non-empty
  elif kind in ("hopenet", "arcface"):
    side = cfg.image_size
  else:
    side = math.ceil(min_input_size(cfg.num_blocks) / min(cfg.scales))
  return jnp.zeros((batch, side, side, 3), jnp.float32)


def abstract_variables(kind: str, aux_config: ml_collections.ConfigDict) -> dict:
  """The variables of `kind` as ShapeDtypeStructs (no computation)."""
  module = build(kind, aux_config)
  return jax.eval_shape(lambda rng: module.init(rng, example_input(kind, aux_config)),
                        jax.random.key(0))


def init_variables(kind: str, aux_config: ml_collections.ConfigDict, rng: jax.Array) -> dict:
  """Random variables of `kind` ({'params', 'batch_stats'} or, for D, {'params', 'spectral'})."""
  module = build(kind, aux_config)
  return jax.jit(module.init)(rng, example_input(kind, aux_config))


def check_shapes(kind: str, variables: dict, aux_config: ml_collections.ConfigDict,
                 label: str) -> None:
  """Raises ValueError (one line naming `label`) unless `variables` fit `aux_config[kind]`."""
  want = traverse_util.flatten_dict(abstract_variables(kind, aux_config))
  got = traverse_util.flatten_dict(variables)
  for key in sorted(set(want) | set(got)):
    if key not in got or key not in want or tuple(want[key].shape) != np.shape(got[key]):
      raise ValueError(f"{label}: {kind} variable {'/'.join(key)} does not match the auxiliary "
                       f"config (expected {getattr(want.get(key), 'shape', None)}, got "
                       f"{np.shape(got[key]) if key in got else None}); convert with the "
                       f"same --aux_config as the training config")


def load_variables(kind: str, path: str, aux_config: ml_collections.ConfigDict) -> dict:
  """Variables (numpy) of `kind` from a converted directory or the upstream .pth / .pkl file.

  A directory must be `python -m convert_weights --aux KIND` output for the same kind; a file
  is converted in memory (torchvision VGG-19, hopenet_robust_alpha1.pkl, arcface_torch
  backbone.pth). Shapes are checked against `aux_config[kind]`.

  Raises:
    FileNotFoundError / ValueError with a one-line message naming `path` and the problem.
  """
  from convert_weights import auxiliary as aux_convert  # pylint: disable=g-import-not-at-top
  from convert_weights import convert  # pylint: disable=g-import-not-at-top

  if kind not in PRETRAINED_KINDS:
    raise KeyError(f"{kind!r} has no pretrained weights; expected one of {PRETRAINED_KINDS}")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: no such {kind} weights file or directory "
                            f"({aux_convert.SOURCE_HINTS[kind]})")
  try:
    if os.path.isdir(path):
      tree, manifest = convert.load_orbax(path)
      if manifest.get("format") != aux_convert.FORMAT or kind not in tree:
        raise ValueError(f"{path}: holds {manifest.get('kind') or manifest.get('format')!r} "
                         f"weights, not {kind!r} (convert with python -m convert_weights "
                         f"--aux {kind})")
      variables = tree[kind]
      check_shapes(kind, variables, aux_config, path)
    else:
      variables, _ = aux_convert.convert_aux(kind, path, aux_config)
  except convert.ConversionError as e:
    raise ValueError(str(e)) from None
  return variables

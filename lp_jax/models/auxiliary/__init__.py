# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Auxiliary networks of Stage I training, by kind: construction and initialisation.

Kinds: `vgg19` (perceptual pyramid), `hopenet` (head pose), `arcface` (identity) with
pretrained weights, and `discriminator` (multi-scale patch GAN, trained from scratch). Every
network takes NHWC RGB in [0, 1] and normalises internally. Hyper-parameters come from
`configs/auxiliary.py`; their pretrained weights load through lp_jax.weights.auxiliary.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

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

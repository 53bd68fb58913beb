# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The seven LivePortrait networks by name: construction, example inputs and variable shapes.

Network names are the keys of the official wrapper (`appearance_feature_extractor`,
`motion_extractor`, `warping_module`, `spade_generator`) and of its stitching dict
(`stitching`, `lip`, `eye`).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from lp_jax.models.appearance_feature_extractor import AppearanceFeatureExtractor
from lp_jax.models.motion_extractor import MotionExtractor
from lp_jax.models.spade_generator import SPADEDecoder
from lp_jax.models.stitching_retargeting_network import StitchingRetargetingNetwork
from lp_jax.models.warping_network import WarpingNetwork

BASE_NETWORKS = ("appearance_feature_extractor", "motion_extractor", "warping_module",
                 "spade_generator")
RETARGETING_NETWORKS = ("stitching", "lip", "eye")
NETWORKS = BASE_NETWORKS + RETARGETING_NETWORKS


def build(name: str, config: ml_collections.ConfigDict, *, spectral_norm_folded: bool = False,
          dtype=jnp.float32) -> nn.Module:
  """The Flax module of network `name` with the hyper-parameters of `config` (configs/models)."""
  kw = dict(config[name])
  if name == "appearance_feature_extractor":
    return AppearanceFeatureExtractor(**kw, dtype=dtype)
  if name == "motion_extractor":
    return MotionExtractor(**kw, dtype=dtype)
  if name == "warping_module":
    # A hashable (name, value) tuple: modules are static arguments of jitted functions.
    kw["dense_motion_params"] = tuple(sorted(dict(kw["dense_motion_params"]).items()))
    return WarpingNetwork(**kw, dtype=dtype)
  if name == "spade_generator":
    return SPADEDecoder(**kw, spectral_norm_folded=spectral_norm_folded, dtype=dtype)
  if name in RETARGETING_NETWORKS:
    kw["hidden_sizes"] = tuple(kw["hidden_sizes"])
    return StitchingRetargetingNetwork(**kw)
  raise KeyError(f"unknown network {name!r}; expected one of {NETWORKS}")


def example_inputs(name: str, config: ml_collections.ConfigDict, batch: int = 1) -> tuple:
  """Zero inputs of the right shapes for `init` / `eval_shape` (NHWC / NDHWC)."""
  if name in ("appearance_feature_extractor", "motion_extractor"):
    return (jnp.zeros((batch, 256, 256, 3), jnp.float32),)
  if name == "warping_module":
    f = config.appearance_feature_extractor
    num_kp = config.warping_module.num_kp
    kp = jnp.zeros((batch, num_kp, 3), jnp.float32)
    return (jnp.zeros((batch, f.reshape_depth, 64, 64, f.reshape_channel), jnp.float32), kp, kp)
  if name == "spade_generator":
    g = config.spade_generator
    channels = min(g.max_features, g.block_expansion * 2 ** g.num_down_blocks)
    return (jnp.zeros((batch, 64, 64, channels), jnp.float32),)
  return (jnp.zeros((batch, config[name].input_size), jnp.float32),)


def init_variables(name: str, config: ml_collections.ConfigDict, rng: jax.Array) -> dict:
  """Randomly initialised variables (PyTorch-style init) of network `name`."""
  return build(name, config).init(rng, *example_inputs(name, config))


def abstract_variables(name: str, config: ml_collections.ConfigDict) -> dict:
  """ShapeDtypeStructs of the variables of network `name` (nothing is allocated)."""
  return jax.eval_shape(lambda: init_variables(name, config, jax.random.key(0)))

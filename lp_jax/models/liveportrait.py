# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The seven LivePortrait networks by name: construction, example inputs and variable shapes.

Network names are the keys of the official wrapper (`appearance_feature_extractor`,
`motion_extractor`, `warping_module`, `spade_generator`) and of its stitching dict
(`stitching`, `lip`, `eye`).
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lp_jax.models import kernels
from lp_jax.models import remat as remat_lib
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
          dtype=jnp.float32, platform: str | None = None, remat: str | None = None,
          batch_shards: int = 1) -> nn.Module:
  """The Flax module of network `name` with the hyper-parameters of `config` (configs/models).

  `platform` ('cpu' / 'gpu' / 'cuda' / 'tpu') selects the layer forms (models/kernels.py); by
  default the backend this process runs on. The network's `forms` field holds them and every
  block passes them down to its convs. Compiling ahead of time for another backend must name
  it: the compiling host is 'cpu'. Variables are the same for every platform.
  `remat` ('none' / 'blocks', models/remat.py): the training's rematerialisation policy.
  `batch_shards`: how many devices the program splits the batch over (`mesh.batch_shards`),
  which keeps per-frame gathers on each device's own frames (`kernels.over_sharded_batch`).
  """
  kw = dict(config[name])
  if name in BASE_NETWORKS:
    kw["forms"] = kernels.for_platform(platform or jax.default_backend())
    if batch_shards != 1:
      kw["forms"] = kernels.over_sharded_batch(kw["forms"], batch_shards)
    if remat is not None:
      kw["forms"] = dataclasses.replace(kw["forms"],
                                        remat_blocks=remat_lib.check(remat) == "blocks")
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
  # Jitted: an eager init would run the full-size forward pass op by op (~10 s for W).
  return jax.jit(build(name, config).init)(rng, *example_inputs(name, config))


def abstract_variables(name: str, config: ml_collections.ConfigDict) -> dict:
  """ShapeDtypeStructs of the variables of network `name` (nothing is allocated)."""
  return jax.eval_shape(lambda: init_variables(name, config, jax.random.key(0)))


def random_variables(name: str, config: ml_collections.ConfigDict, seed: int = 0) -> dict:
  """Host-side random variables with PyTorch's default init statistics, in milliseconds.

  For benchmarks and demos, which need weights of the right shapes but not Flax's exact init:
  compiling `init` for the full-size networks costs several seconds per network on CPU.
  """
  rng = np.random.default_rng(seed)

  def leaf(path, spec):
    collection, last = path[0].key, path[-1].key
    shape = spec.shape
    if collection == "batch_stats":
      return np.ones(shape, np.float32) if last == "var" else np.zeros(shape, np.float32)
    if collection == "spectral":
      v = rng.standard_normal(shape)
      return (v / np.linalg.norm(v)).astype(np.float32)
    if last == "kernel":
      bound = 1.0 / np.sqrt(np.prod(shape[:-1]))  # fan_in of a channels-last kernel
      return rng.uniform(-bound, bound, shape).astype(np.float32)
    if last == "scale":
      return np.ones(shape, np.float32)
    return np.zeros(shape, np.float32)  # biases, GRN gamma / beta

  return jax.tree_util.tree_map_with_path(leaf, abstract_variables(name, config))

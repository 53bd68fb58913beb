# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Fresh network variables with PyTorch's default initialisation, from shapes alone."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np

from lp_jax.models import liveportrait
from lp_jax.training import variables as variables_lib


def torch_default_init(abstract: dict, rng) -> dict:
  """Variables of the shapes in `abstract` with PyTorch's default init statistics.

  Kernels uniform(+-1/sqrt(fan_in)) (what util.torch_kernel_init draws), norm scales 1, biases
  and GRN gamma / beta 0, BatchNorm running statistics (0, 1), spectral-norm vectors random
  unit vectors. Built from the shapes alone with two random draws (sliced per leaf): compiling
  `module.init` compiles every network's forward pass just to discard it, and one threefry
  call per leaf makes XLA:CPU spend ~30 s on a few hundred leaves.
  """
  flat = sorted(flax.traverse_util.flatten_dict(flax.core.unfreeze(abstract)).items())
  size = lambda spec: int(np.prod(spec.shape))
  n_uniform = sum(size(s) for k, s in flat if k[0] == "params" and k[-1] == "kernel")
  n_normal = sum(size(s) for k, s in flat if k[0] == "spectral")
  r_u, r_n = jax.random.split(rng)
  uniform = jax.random.uniform(r_u, (n_uniform,), jnp.float32, -1.0, 1.0)
  normal = jax.random.normal(r_n, (n_normal,), jnp.float32)
  out, i_u, i_n = {}, 0, 0
  for key, spec in flat:
    collection, last, shape = key[0], key[-1], tuple(spec.shape)
    if collection == "batch_stats":
      value = jnp.ones(shape, spec.dtype) if last == "var" else jnp.zeros(shape, spec.dtype)
    elif collection == "spectral":
      v = normal[i_n:i_n + size(spec)].reshape(shape)
      i_n += size(spec)
      value = (v / jnp.maximum(jnp.linalg.norm(v), 1e-12)).astype(spec.dtype)
    elif last == "kernel":
      bound = 1.0 / np.sqrt(max(int(np.prod(shape[:-1])), 1))
      value = (uniform[i_u:i_u + size(spec)].reshape(shape) * bound).astype(spec.dtype)
      i_u += size(spec)
    elif last == "scale":
      value = jnp.ones(shape, spec.dtype)
    elif last in ("bias", "gamma", "beta"):
      value = jnp.zeros(shape, spec.dtype)
    elif last == "negative_slope":  # PReLU (ArcFace): torch's default 0.25
      value = jnp.full(shape, 0.25, spec.dtype)
    else:
      raise ValueError(f"torch_default_init: no rule for variable {'/'.join(key)}")
    out[key] = value
  return flax.traverse_util.unflatten_dict(out)


def init_module(module, rng, *inputs) -> tuple[Any, dict]:
  """(params, other collections) of `module` at `inputs`' shapes (torch_default_init)."""
  abstract = jax.eval_shape(module.init, jax.random.key(0), *inputs)
  return variables_lib.split_variables(torch_default_init(abstract, rng))


def init_networks(modules: dict, model_config, rng) -> tuple[dict, dict]:
  """({name: params}, {name: mutable collections}) of freshly initialised LivePortrait nets
  (F and M at 256, the others at the shapes of `model_config`)."""
  params, states = {}, {}
  for i, (name, module) in enumerate(sorted(modules.items())):
    params[name], states[name] = init_module(module, jax.random.fold_in(rng, i),
                                             *liveportrait.example_inputs(name, model_config))
  return params, states


def zero_output_layer(mlp_params: dict) -> dict:
  """An MLP's params (`mlp.0`, `mlp.2`, ...) with its last Linear set to 0: it outputs a zero
  offset for every input, so a retargeting network starts as the identity on the keypoints."""
  last = max(mlp_params, key=lambda name: int(name.split(".")[1]))
  return {**mlp_params, last: jax.tree.map(jnp.zeros_like, mlp_params[last])}

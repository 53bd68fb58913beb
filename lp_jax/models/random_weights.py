# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Random weights of every network that run like trained ones: for benchmarks and synthetic
checkpoints, which need the shapes and sane activations but not the values.

Random u, v make sigma = u . W v arbitrary (near zero for some layers), so W / sigma, which both
the official generator and ours run, could blow activations up to inf or NaN. A trained
checkpoint holds u, v at the power iteration's fixed point (sigma = the largest singular value);
a few host-side iterations put the random ones there too.
"""

from flax import traverse_util
import ml_collections
import numpy as np

from lp_jax.models import liveportrait


def power_iterate(kernel: np.ndarray, u: np.ndarray, steps: int = 20) -> tuple:
  """(u, v) after `steps` iterations on the (O, I*kh*kw) view of an HWIO kernel."""
  w = kernel.transpose(3, 2, 0, 1).reshape(kernel.shape[-1], -1).astype(np.float64)
  u = u.astype(np.float64)
  for _ in range(steps):
    v = w.T @ u
    v /= np.linalg.norm(v)
    u = w @ v
    u /= np.linalg.norm(u)
  return u.astype(np.float32), v.astype(np.float32)


def random_networks(config: ml_collections.ConfigDict, seed: int = 0) -> dict:
  """{network: variables} of every network, seeded per network; spectral u, v converged."""
  variables = {n: liveportrait.random_variables(n, config, seed + i)
               for i, n in enumerate(liveportrait.NETWORKS)}
  gen = variables["spade_generator"]
  params = traverse_util.flatten_dict(gen["params"])
  flat = traverse_util.flatten_dict(gen["spectral"])
  for path in {key[:-1] for key in flat}:
    flat[path + ("u",)], flat[path + ("v",)] = power_iterate(
        np.asarray(params[path + ("kernel",)]), np.asarray(flat[path + ("u",)]))
  variables["spade_generator"] = dict(gen, spectral=traverse_util.unflatten_dict(flat))
  return variables

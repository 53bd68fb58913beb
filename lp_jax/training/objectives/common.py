# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""What the Stage I and Stage II objectives share: applying a network with its mutable
collections, term weights, rendering with W and G."""

import functools
import inspect

import jax

from lp_jax.models import liveportrait
from lp_jax.ops import resize
from lp_jax.training import variables as variables_lib

sg = jax.lax.stop_gradient
F_NAME, M_NAME, W_NAME, G_NAME = liveportrait.BASE_NETWORKS


@functools.lru_cache(maxsize=None)
def _accepts_train(module_type) -> bool:
  return "train" in inspect.signature(module_type.__call__).parameters


def apply_module(module, params, state, *args, train: bool):
  """module.apply with {'params', **state}; returns (output, new state).

  In training mode the collections of `state` (batch_stats, spectral) are mutable and come back
  updated; `train` is passed only to modules whose __call__ takes it (M has no BatchNorm).
  """
  state = dict(state or {})
  variables = {"params": params, **state}
  kwargs = {"train": train} if _accepts_train(type(module)) else {}
  if train and state:
    out, updates = module.apply(variables, *args, mutable=list(state), **kwargs)
    return out, {**state, **updates}
  return module.apply(variables, *args, **kwargs), state


def frozen_apply(module, variables, *args):
  """module.apply in eval mode with full `variables` ({'params', ...}); returns the output."""
  params, state = variables_lib.split_variables(variables)
  return apply_module(module, params, state, *args, train=False)[0]


def term_weight(cfg, term: str) -> float:
  """The weight of `term` in the loss config (0, i.e. off, when the config omits it)."""
  return float(cfg.weights.get(term, 0.0))


def input_sizes(cfg) -> tuple[int, int]:
  """(side F sees, side M sees) of a loss config: network_image_size, and motion_image_size
  where set (0 or absent: the same side)."""
  net = int(cfg.get("network_image_size", 256))
  return net, int(cfg.get("motion_image_size", 0) or net)


def render(models, params, state, f_s, x_s, x_d, train: bool, image_size: int):
  """W then G; returns the image resized to S and the updated W, G states."""
  warped, w_state = apply_module(models.W, params[0], state[0], f_s, x_d, x_s, train=train)
  image, g_state = apply_module(models.G, params[1], state[1], warped["out"], train=train)
  return resize.resize(image, image_size), (w_state, g_state)

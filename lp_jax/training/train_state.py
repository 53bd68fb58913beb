# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The train state types and their optimizer.

Stage I state: a generator TrainState (F, M, W, G params keyed by network name; their mutable
collections, batch_stats and spectral, in `model_state`) and a discriminator TrainState, each
with its own Adam. Stage II state: one TrainState over the stitching / eye / lip MLPs; the frozen
base is not state (it is an input of the step, loaded from config.init_from at every start).
The tree structure of these types is the layout of every checkpoint: changing it breaks resume.
"""

from typing import Any

import optax
from flax import struct
from flax.training import train_state


class TrainState(train_state.TrainState):
  """flax TrainState + the networks' mutable collections ({network: {collection: tree}})."""
  model_state: Any = None


class GanState(struct.PyTreeNode):
  """Stage I: generator (F, M, W, G) and discriminator, stepped together."""
  generator: TrainState
  discriminator: TrainState

  @property
  def step(self):
    return self.generator.step


def make_optimizer(opt_config) -> optax.GradientTransformation:
  """Adam (face-vid2vid / LivePortrait: lr 2e-4, betas 0.5 / 0.999), optional global clip."""
  tx = optax.adam(opt_config.learning_rate, b1=opt_config.b1, b2=opt_config.b2)
  if opt_config.get("grad_clip_norm"):
    tx = optax.chain(optax.clip_by_global_norm(opt_config.grad_clip_norm), tx)
  return tx

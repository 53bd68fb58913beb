# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A run: one stage's modules, its sharded state and the step's third argument, on a mesh.

`build(config, mesh, rng)` allocates everything the loop needs; the stage-specific parts come
from the stage object (lp_jax.training.stages), so nothing here branches on the stage.
"""

import dataclasses
from typing import Any

import jax
from jax.experimental import multihost_utils

from lp_jax.training import evaluate, placement, stages
from lp_jax.training import mesh as mesh_lib
from lp_jax.training.export_workdir import manifest_fields
from lp_jax.weights import export as weights_export


@dataclasses.dataclass(frozen=True)
class Run:
  """What the loop needs of one stage: modules, state (+ its shardings and abstract form for
  Orbax), the step's third argument and the networks config.init_from held (Stage II)."""
  config: Any
  stage: Any  # stages.Stage1 or stages.Stage2
  models: Any
  state: Any
  shardings: Any
  abstract: Any
  extra: Any
  extra_shardings: Any
  overview: str
  pretrained: dict | None = None

  @property
  def step_fn(self):
    return self.stage.step_fn

  def apply_init_from(self, state):
    """Fresh runs only: overwrite the trained networks with config.init_from's (fine-tuning)."""
    return self.stage.apply_init_from(state, self.shardings, self.pretrained)

  def networks(self, state) -> dict:
    """{network: host variables} of the model being trained (with the base in Stage II)."""
    tree = self.stage.networks(state, self.extra)
    if jax.process_count() > 1:  # parameters may live on other hosts' devices
      return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)

  def evaluate(self, state) -> dict:
    return evaluate.evaluate_config(self.config, self.networks(state))

  def export(self, state, converted_dir: str, official_dir: str | None = None) -> list[str]:
    return weights_export.export_trained(self.networks(state), converted_dir, official_dir,
                                         force=True, **manifest_fields(self.config))


def build(config, mesh, rng) -> Run:
  """Modules, sharded initial state and step inputs of `config.stage` on `mesh`."""
  stage = stages.for_config(config)
  setup = stage.setup(batch_shards=mesh_lib.batch_shards(mesh))
  init_rng, aux_rng = jax.random.split(rng)
  step_input = stage.step_input(setup, mesh, aux_rng)
  state, shardings, abstract = placement.sharded_init(setup.init_fn, init_rng, mesh,
                                                      config.sharding)
  return Run(config, stage, setup.models, state, shardings, abstract, step_input.values,
             step_input.shardings, stage.overview(state), step_input.pretrained)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Stage I and Stage II as objects: what differs between the two trainings, in one place each.

A stage knows its modules and the state's init function (`setup`), the step's third argument
(`step_input`: aux networks in Stage I, the frozen base in Stage II), how config.init_from
fine-tunes a fresh state (`apply_init_from`), which networks it trains (`networks`) and its
jitted step function. `for_config(config)` picks the stage of `config.stage`; the run and the
loop never branch on the stage number.
"""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from lp_jax.models import auxiliary, liveportrait
from lp_jax.models import remat as remat_lib
from lp_jax.training import initializers, placement, pretrained, step
from lp_jax.training import landmark_model as landmark_lib
from lp_jax.training import mesh as mesh_lib
from lp_jax.training import variables as variables_lib
from lp_jax.training.errors import ConfigError
from lp_jax.training.objectives import stage1 as stage1_objective
from lp_jax.training.objectives import stage2 as stage2_objective
from lp_jax.training.train_state import GanState, TrainState, make_optimizer

GENERATOR_NETWORKS = liveportrait.BASE_NETWORKS
RETARGETING_NETWORKS = liveportrait.RETARGETING_NETWORKS
# Auxiliary network kind -> its field in Stage1Models; the order fixes each kind's rng fold_in.
_AUX_FIELDS = {"vgg19": "vgg", "hopenet": "hopenet", "arcface": "arcface"}


@dataclasses.dataclass
class Setup:
  """What a stage's state and step are built from, before anything is allocated.

  `extra_inits` maps each entry of the step's third argument (aux variables in Stage I, the
  frozen base in Stage II) to a function of rng giving its (random) variables; `jax.eval_shape`
  of it is the entry's shape without any allocation (lp_jax.aot).
  """
  models: Any
  init_fn: Callable
  extra_inits: dict


@dataclasses.dataclass
class StepInput:
  """The step's third argument on the mesh, and the networks init_from held (Stage II only:
  Stage I reads init_from only when a fresh run needs it)."""
  values: Any
  shardings: Any
  pretrained: dict | None = None


def remat_policy(config) -> str:
  """config.remat ('none' when absent), checked (models/remat.py)."""
  policy = config.get("remat", "none")
  try:
    return remat_lib.check(policy)
  except ValueError as e:
    raise ConfigError(f"config.remat: {e}") from None


def compute_dtype(config):
  """bfloat16 compute under `config.mixed_precision` (params and optimizer stay float32)."""
  return jnp.bfloat16 if config.get("mixed_precision") else jnp.float32


def param_overview(params) -> str:
  """One line per network: parameter count (logged once at the start of a run)."""
  lines = []
  for name in sorted(params):
    n = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params[name]))
    lines.append(f"{name}: {n:,} parameters")
  return "; ".join(lines)


def aux_kinds(config) -> tuple[str, ...]:
  """The auxiliary networks (vgg19 / hopenet / arcface) whose variables this run has."""
  if config.aux_init == "random":  # tests: every term computes, on random features
    return auxiliary.PRETRAINED_KINDS
  if config.aux_init == "paths":
    return tuple(k for k in auxiliary.PRETRAINED_KINDS if config.aux.paths.get(k))
  return ()


def _networks_of(ts: TrainState) -> dict:
  """{network: variables} of one TrainState (params merged with their mutable collections)."""
  return {n: variables_lib.merge_variables(ts.params[n], (ts.model_state or {}).get(n))
          for n in ts.params}


class Stage1:
  """The base model (F, M, W, G) and the three discriminators, with frozen VGG / HopeNet /
  ArcFace as the step's third argument."""
  number = 1
  step_fn = staticmethod(step.stage1_step)

  def __init__(self, config):
    self.config = config

  def setup(self, platform: str | None = None, batch_shards: int = 1) -> Setup:
    """`platform`: whose layer forms F, M, W, G take (models/kernels.py); default the running
    backend (lp_jax.aot passes its target's). `batch_shards`: how many devices the step splits
    the batch over (mesh.batch_shards)."""
    config, dtype = self.config, compute_dtype(self.config)
    kinds = aux_kinds(config)
    aux_modules = {f: (auxiliary.build(k, config.aux, dtype=dtype) if k in kinds else None)
                   for k, f in _AUX_FIELDS.items()}
    disc = auxiliary.build("discriminator", config.aux, dtype=dtype)
    landmarks = landmark_lib.from_loss_config(config.loss)
    models = stage1_objective.Stage1Models.from_config(config.model, dtype=dtype, D=disc,
                                                       platform=platform,
                                                       remat=remat_policy(config),
                                                       batch_shards=batch_shards,
                                                       landmark_model=landmarks, **aux_modules)
    d_input = auxiliary.example_input("discriminator", config.aux)
    tx_g, tx_d = make_optimizer(config.optimizer), make_optimizer(config.optimizer)

    def init(rng):
      g_rng, d_rng = jax.random.split(rng)
      params, states = initializers.init_networks(models.networks(), config.model, g_rng)
      gen = TrainState.create(apply_fn=None, params=params, tx=tx_g, model_state=states)
      d_params, d_states = {}, {}  # one discriminator per region, each its own parameters
      for i, region in enumerate(stage1_objective.DISC_REGIONS):
        d_params[region], d_states[region] = initializers.init_module(
            disc, jax.random.fold_in(d_rng, i), d_input)
      disc_ts = TrainState.create(apply_fn=None, params=d_params, tx=tx_d, model_state=d_states)
      return GanState(generator=gen, discriminator=disc_ts)

    def aux_init(kind):
      module, x = auxiliary.build(kind, config.aux), auxiliary.example_input(kind, config.aux)
      return lambda r: variables_lib.merge_variables(*initializers.init_module(module, r, x))

    extra_inits = {k: aux_init(k) for k in kinds}
    if landmarks is not None:  # frozen, loaded: the same arrays whatever the rng
      extra_inits[landmark_lib.NAME] = lambda r: jax.tree.map(jnp.asarray, landmarks.params)
    return Setup(models, init, extra_inits)

  def step_input(self, setup: Setup, mesh, rng) -> StepInput:
    """{kind: variables} of VGG-19 / HopeNet / ArcFace (random in tests, else from paths), and
    the landmark model's parameters when the loss config names one."""
    for line in stage1_objective.describe_terms(setup.models, self.config.loss):
      logging.info("%s", line)
    config, variables = self.config, {}
    for i, kind in enumerate(_AUX_FIELDS):  # the same fold_in index whichever kinds are present
      if kind not in setup.extra_inits:
        continue
      if config.aux_init == "random":
        variables[kind] = jax.jit(setup.extra_inits[kind])(jax.random.fold_in(rng, i))
      else:
        variables[kind] = auxiliary.load_variables(kind, config.aux.paths[kind], config.aux)
    if setup.models.landmark_model is not None:
      variables[landmark_lib.NAME] = setup.models.landmark_model.params
    shardings = mesh_lib.state_shardings(variables, mesh, config.sharding)
    return StepInput(placement.place(variables, shardings), shardings)

  def apply_init_from(self, state: GanState, shardings: GanState, loaded: dict | None):
    """Fresh runs: the generator networks of config.init_from (read now, on demand)."""
    del loaded  # Stage I reads init_from only here, so a resumed run never loads it
    path = self.config.get("init_from")
    if not path:
      return state
    networks = pretrained.load_pretrained(path, self.config.model)
    gen = pretrained.replace_networks(state.generator, networks, shardings.generator, path)
    return state.replace(generator=gen)

  def networks(self, state: GanState, step_input) -> dict:
    del step_input  # the aux networks are not part of the model
    return _networks_of(state.generator)

  def overview(self, state: GanState) -> str:
    n_disc = sum(x.size for x in jax.tree.leaves(state.discriminator.params))
    return param_overview(state.generator.params) + f"; discriminator: {n_disc:,}"


class Stage2:
  """The stitching / eye / lip MLPs on a frozen base (F, M, W, G), the step's third argument."""
  number = 2
  step_fn = staticmethod(step.stage2_step)

  def __init__(self, config):
    self.config = config

  def setup(self, platform: str | None = None, batch_shards: int = 1) -> Setup:
    """`platform`, `batch_shards`: as Stage1.setup."""
    config = self.config
    stage2_objective.ratio_measure(config.loss)  # a bad measure fails before anything is built
    landmarks = landmark_lib.from_loss_config(config.loss)
    models = stage2_objective.Stage2Models.from_config(config.model, dtype=compute_dtype(config),
                                                       platform=platform,
                                                       remat=remat_policy(config),
                                                       batch_shards=batch_shards,
                                                       landmark_model=landmarks)
    base_nets = dict(zip(GENERATOR_NETWORKS, (models.F, models.M, models.W, models.G)))
    mlps = {n: getattr(models, n) for n in RETARGETING_NETWORKS}
    tx = make_optimizer(config.optimizer)

    def init(rng):
      params, states = initializers.init_networks(mlps, config.model, rng)
      if config.get("zero_init_offsets", False):
        params = {n: initializers.zero_output_layer(p) for n, p in params.items()}
      return TrainState.create(apply_fn=None, params=params, tx=tx, model_state=states)

    def base_init(rng):  # a random base: Stage II without init_from (tests only)
      params, states = initializers.init_networks(base_nets, config.model, rng)
      base = {n: variables_lib.merge_variables(params[n], states[n]) for n in params}
      if landmarks is not None:  # frozen with the base, loaded
        base[landmark_lib.NAME] = jax.tree.map(jnp.asarray, landmarks.params)
      return base

    return Setup(models, init, {"base": base_init})

  def step_input(self, setup: Setup, mesh, rng) -> StepInput:
    """The frozen base from config.init_from (with any retargeting networks it also holds), and
    the landmark model's parameters when the loss config names one."""
    config = self.config
    if not config.get("init_from"):
      logging.warning("Stage II without config.init_from: the frozen base is RANDOM (tests only)")
      values, shardings, _ = placement.sharded_init(setup.extra_inits["base"],
                                                    jax.random.fold_in(rng, 7), mesh,
                                                    config.sharding)
      return StepInput(values, shardings)
    loaded = pretrained.load_pretrained(config.init_from, config.model)
    missing = [n for n in GENERATOR_NETWORKS if n not in loaded]
    if missing:
      raise ConfigError(f"{config.init_from}: no {', '.join(missing)} for the frozen base")
    base = {n: loaded[n] for n in GENERATOR_NETWORKS}
    if setup.models.landmark_model is not None:
      base[landmark_lib.NAME] = setup.models.landmark_model.params
    shardings = mesh_lib.state_shardings(base, mesh, config.sharding)
    return StepInput(placement.place(base, shardings), shardings, loaded)

  def apply_init_from(self, state: TrainState, shardings: TrainState, loaded: dict | None):
    """Fresh runs: the retargeting networks init_from held, if any (fine-tuning)."""
    if loaded is None:
      return state
    return pretrained.replace_networks(state, loaded, shardings, self.config.init_from)

  def networks(self, state: TrainState, step_input) -> dict:
    base = {n: v for n, v in step_input.items() if n != landmark_lib.NAME}
    return {**base, **_networks_of(state)}  # the base travels with the MLPs

  def overview(self, state: TrainState) -> str:
    return param_overview(state.params)


def for_config(config):
  """The stage object of `config.stage` (1 or 2)."""
  stages = {1: Stage1, 2: Stage2}
  if config.stage not in stages:
    raise ConfigError(f"config.stage must be 1 or 2, got {config.stage!r}")
  return stages[config.stage](config)

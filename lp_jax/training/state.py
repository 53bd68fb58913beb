# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Train states, their sharded initialisation, and loading / exporting LivePortrait weights.

Pattern (STYLE.md 5): `jax.eval_shape(init_fn, rng)` -> shardings by the config's rules ->
`jax.jit(init_fn, out_shardings=...)(rng)`, so no full copy of the state ever exists on one
device. Weights loaded from disk (config.init_from) are then placed leaf by leaf with
`jax.make_array_from_callback`, which works the same on one host and on many.

Stage I state: a generator TrainState (F, M, W, G params keyed by network name; their mutable
collections, batch_stats and spectral, in `model_state`) and a discriminator TrainState, each
with its own Adam. Stage II state: one TrainState over the stitching / eye / lip MLPs; the frozen
base is not state (it is an input of the step, loaded from config.init_from at every start).
"""

import dataclasses
import os
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax import struct
from flax.training import train_state

from lp_jax.models import liveportrait
from lp_jax.training import mesh as mesh_lib

GENERATOR_NETWORKS = liveportrait.BASE_NETWORKS
RETARGETING_NETWORKS = liveportrait.RETARGETING_NETWORKS


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


def split_variables(variables: dict) -> tuple[Any, dict]:
  """Flax variables -> (params, {other collection: tree})."""
  variables = flax.core.unfreeze(variables)
  return variables.pop("params", {}), variables


def merge_variables(params, model_state) -> dict:
  return {"params": params, **(model_state or {})}


def network_inputs(name: str, model_config, batch: int = 1) -> tuple:
  """Example inputs for `init` of network `name` (F and M at 256, the others by config)."""
  return liveportrait.example_inputs(name, model_config, batch)


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
  return split_variables(torch_default_init(abstract, rng))


def init_networks(modules: dict, model_config, rng) -> tuple[dict, dict]:
  """({name: params}, {name: mutable collections}) of freshly initialised LivePortrait nets."""
  params, states = {}, {}
  for i, (name, module) in enumerate(sorted(modules.items())):
    params[name], states[name] = init_module(module, jax.random.fold_in(rng, i),
                                             *network_inputs(name, model_config))
  return params, states


def sharded_init(init_fn: Callable, rng, mesh, sharding_config):
  """(state, shardings, abstract state with shardings) of `init_fn(rng)` placed by the rules."""
  abstract = jax.eval_shape(init_fn, rng)
  shardings = mesh_lib.state_shardings(abstract, mesh, sharding_config)
  state = jax.jit(init_fn, out_shardings=shardings)(rng)
  return state, shardings, with_shardings(abstract, shardings)


def with_shardings(abstract, shardings):
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      abstract, shardings)


def place(host_tree, shardings):
  """Host (numpy) leaves -> global arrays with the given shardings (every process has all)."""
  def one(x, s):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, s, lambda idx: x[idx])
  return jax.tree.map(one, host_tree, shardings)


def _check_same_structure(loaded, current, what: str) -> None:
  flat_l = flax.traverse_util.flatten_dict(loaded)
  flat_c = flax.traverse_util.flatten_dict(current)
  for key in sorted(set(flat_l) | set(flat_c)):
    got = np.shape(flat_l[key]) if key in flat_l else None
    want = tuple(flat_c[key].shape) if key in flat_c else None
    if got != want:
      raise ValueError(f"{what}: {'/'.join(key)} has shape {got}, the model config wants {want}")


def replace_networks(ts: TrainState, loaded: dict, shardings: TrainState, what: str) -> TrainState:
  """Overwrites the networks present in `loaded` ({name: variables}); Adam moments stay zero."""
  params, model_state = dict(ts.params), dict(ts.model_state or {})
  for name, variables in loaded.items():
    if name not in params:
      continue
    p, s = split_variables(variables)
    s = {k: v for k, v in s.items() if k in model_state.get(name, {})}
    _check_same_structure(p, params[name], f"{what} [{name}]")
    _check_same_structure(s, model_state.get(name, {}), f"{what} [{name}]")
    params[name] = place(p, shardings.params[name])
    if s:
      model_state[name] = place(s, shardings.model_state[name])
    logging.info("initialised %s from %s", name, what)
  return ts.replace(params=params, model_state=model_state)


def load_pretrained(path: str, model_config) -> dict:
  """{network: variables (numpy)} from a converted / official folder or a training workdir.

  A training workdir (one with checkpoints/) gives its latest checkpoint's generator (Stage I)
  or retargeting (Stage II) networks; anything else goes through lp_jax.weights.load_variables.
  """
  from lp_jax import weights  # pylint: disable=g-import-not-at-top
  from lp_jax.training import checkpoint  # pylint: disable=g-import-not-at-top

  if os.path.isdir(os.path.join(path, "checkpoints")):
    raw, step = checkpoint.restore_state_only(path)
    logging.info("using step %d of the training run %s", step, path)
    return networks_of_state(raw)
  variables, _ = weights.load_variables(path, model_config)
  return variables


def networks_of_state(raw: dict) -> dict:
  """{network: variables} from a (restored, dict-shaped) Stage I or Stage II state."""
  out = {}
  for ts in ([raw["generator"]] if "generator" in raw else [raw]):
    for name, params in ts["params"].items():
      out[name] = jax.device_get(merge_variables(params, (ts.get("model_state") or {})
                                                 .get(name)))
  return out


def stage1_init_fn(modules: dict, disc_init: Callable, model_config, opt_config) -> Callable:
  """rng -> GanState with random generator and discriminator weights."""
  tx_g, tx_d = make_optimizer(opt_config), make_optimizer(opt_config)

  def init(rng):
    g_rng, d_rng = jax.random.split(rng)
    params, states = init_networks(modules, model_config, g_rng)
    gen = TrainState.create(apply_fn=None, params=params, tx=tx_g, model_state=states)
    d_params, d_state = disc_init(d_rng)
    disc = TrainState.create(apply_fn=None, params=d_params, tx=tx_d, model_state=d_state)
    return GanState(generator=gen, discriminator=disc)

  return init


def stage2_init_fn(modules: dict, model_config, opt_config) -> Callable:
  """rng -> TrainState over the retargeting MLPs (random init)."""
  tx = make_optimizer(opt_config)

  def init(rng):
    params, states = init_networks(modules, model_config, rng)
    return TrainState.create(apply_fn=None, params=params, tx=tx, model_state=states)

  return init


def base_init_fn(modules: dict, model_config) -> Callable:
  """rng -> {network: variables} of a random base (Stage II without init_from: tests only)."""
  def init(rng):
    params, states = init_networks(modules, model_config, rng)
    return {n: merge_variables(params[n], states[n]) for n in params}
  return init


def param_overview(params) -> str:
  """One line per network: parameter count (logged at init, STYLE.md 12)."""
  lines = []
  for name in sorted(params):
    n = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params[name]))
    lines.append(f"{name}: {n:,} parameters")
  return "; ".join(lines)


def compute_dtype(config):
  """bfloat16 compute under `config.mixed_precision` (params and optimizer stay float32)."""
  return jnp.bfloat16 if config.get("mixed_precision") else jnp.float32


def export(networks: dict, converted_dst: str, official_dst: str | None = None, *,
           model_variant: str = "official", force: bool = False) -> list[str]:
  """Writes trained `{network: variables}` as a converted lp_jax directory (what infer.py and
  config.init_from read) and, with `official_dst`, in the official .pth layout (needs torch).

  Returns the files written in the official layout (empty without official_dst).
  """
  import datetime  # pylint: disable=g-import-not-at-top

  from convert_weights import convert  # pylint: disable=g-import-not-at-top

  networks = {n: jax.tree.map(np.asarray, jax.device_get(v)) for n, v in networks.items()}
  manifest = {
      "format": "lp_jax.liveportrait",
      "converter_version": convert.CONVERTER_VERSION,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "source": "lp_jax.training",
      "model_config": model_variant,
      "base_dir": "base_models",
      "networks": {n: {"param_count": convert.param_count(v)} for n, v in networks.items()},
  }
  convert.save_orbax(converted_dst, networks, manifest, force=force)
  if official_dst is None:
    return []
  return convert.export_official(converted_dst, official_dst, force=force)


# ------------------------------------------------------------------- a run's models and state


@dataclasses.dataclass
class Run:
  """What the loop needs of one stage: modules, state (+ its shardings), the step's third
  argument (aux variables in Stage I, the frozen base in Stage II) and stage-specific hooks."""
  config: Any
  models: Any
  state: Any
  shardings: Any
  abstract: Any
  extra: Any
  extra_shardings: Any
  overview: str

  def apply_init_from(self, state):
    """Fresh runs only: overwrite the trained networks with config.init_from's (fine-tuning)."""
    path = self.config.get("init_from")
    if not path or self.config.stage == 2 and self._loaded is None:
      return state
    loaded = self._loaded if self.config.stage == 2 else load_pretrained(path, self.config.model)
    if self.config.stage == 1:
      gen = replace_networks(state.generator, loaded, self.shardings.generator, path)
      return state.replace(generator=gen)
    return replace_networks(state, loaded, self.shardings, path)

  def networks(self, state) -> dict:
    """{network: host variables} of the model being trained (with the base in Stage II)."""
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    ts = state.generator if self.config.stage == 1 else state
    tree = {n: merge_variables(ts.params[n], (ts.model_state or {}).get(n))
            for n in ts.params}
    if self.config.stage == 2:
      tree = {**self.extra, **tree}
    if jax.process_count() > 1:  # parameters may live on other hosts' devices
      return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)

  def evaluate(self, state) -> dict:
    from lp_jax import eval as eval_lib  # pylint: disable=g-import-not-at-top
    return eval_lib.evaluate_config(self.config, self.networks(state))

  def export(self, state, converted_dir: str, official_dir: str | None = None) -> list[str]:
    return export(self.networks(state), converted_dir, official_dir,
                  model_variant=self.config.model_variant, force=True)

  _loaded: Any = None  # Stage II: what init_from held (base and maybe retargeting networks)


def aux_kinds(config) -> tuple[str, ...]:
  """The auxiliary networks (vgg19 / hopenet / arcface) whose variables this run has."""
  if config.aux_init == "random":  # tests: every term computes, on random features
    return ("vgg19", "hopenet", "arcface")
  if config.aux_init == "paths":
    return tuple(k for k in ("vgg19", "hopenet", "arcface") if config.aux.paths.get(k))
  return ()


_AUX_FIELDS = {"vgg19": "vgg", "hopenet": "hopenet", "arcface": "arcface"}


@dataclasses.dataclass
class Setup:
  """What a stage's state and step are built from, before anything is allocated.

  `extra_inits` maps each entry of the step's third argument (aux variables in Stage I, the
  frozen base in Stage II) to a zero-argument function of rng giving its (random) variables;
  `jax.eval_shape` of it is the entry's shape without any allocation (lp_jax.aot).
  """
  models: Any
  init_fn: Callable
  extra_inits: dict


def stage_setup(config, platform: str | None = None) -> Setup:
  """Modules, the state's init function and the step's third argument of `config.stage`.

  `platform`: whose layer forms F, M, W, G take (models/kernels.py); default the running
  backend. lp_jax.aot passes the target's.
  """
  from lp_jax.models import auxiliary  # pylint: disable=g-import-not-at-top
  from lp_jax.training import objectives  # pylint: disable=g-import-not-at-top

  dtype = compute_dtype(config)
  if config.stage == 1:
    kinds = aux_kinds(config)
    aux_modules = {f: (auxiliary.build(k, config.aux, dtype=dtype) if k in kinds else None)
                   for k, f in _AUX_FIELDS.items()}
    disc = auxiliary.build("discriminator", config.aux, dtype=dtype)
    models = objectives.Stage1Models.from_config(config.model, dtype=dtype, D=disc,
                                                 platform=platform, **aux_modules)
    d_input = auxiliary.example_input("discriminator", config.aux)

    def disc_init(r):
      params, states = {}, {}
      for i, region in enumerate(objectives.DISC_REGIONS):
        params[region], states[region] = init_module(disc, jax.random.fold_in(r, i), d_input)
      return params, states

    def aux_init(kind):
      module, x = auxiliary.build(kind, config.aux), auxiliary.example_input(kind, config.aux)
      return lambda r: merge_variables(*init_module(module, r, x))

    init_fn = stage1_init_fn(models.networks(), disc_init, config.model, config.optimizer)
    return Setup(models, init_fn, {k: aux_init(k) for k in kinds})
  models = objectives.Stage2Models.from_config(config.model, dtype=dtype, platform=platform)
  base_fn = base_init_fn(dict(zip(GENERATOR_NETWORKS, (models.F, models.M, models.W, models.G))),
                         config.model)
  mlps = {n: getattr(models, n) for n in RETARGETING_NETWORKS}
  return Setup(models, stage2_init_fn(mlps, config.model, config.optimizer), {"base": base_fn})


def _aux_networks(config, setup: Setup, rng) -> dict:
  """{kind: variables} of VGG-19 / HopeNet / ArcFace (random in tests, else from paths)."""
  from lp_jax.models import auxiliary  # pylint: disable=g-import-not-at-top
  variables = {}
  for i, kind in enumerate(_AUX_FIELDS):  # the same fold_in index whichever kinds are present
    if kind not in setup.extra_inits:
      continue
    if config.aux_init == "random":
      variables[kind] = jax.jit(setup.extra_inits[kind])(jax.random.fold_in(rng, i))
    else:
      variables[kind] = auxiliary.load_variables(kind, config.aux.paths[kind], config.aux)
  return variables


def build(config, mesh, rng) -> Run:
  """Modules, sharded initial state and step inputs of `config.stage` on `mesh`."""
  from lp_jax.training import objectives  # pylint: disable=g-import-not-at-top

  setup = stage_setup(config)
  models = setup.models
  init_rng, aux_rng = jax.random.split(rng)
  if config.stage == 1:
    for line in objectives.describe_terms(models, config.loss):
      logging.info("%s", line)
    aux_variables = _aux_networks(config, setup, aux_rng)
    state, shardings, abstract = sharded_init(setup.init_fn, init_rng, mesh, config.sharding)
    extra_shardings = mesh_lib.state_shardings(aux_variables, mesh, config.sharding)
    extra = place(aux_variables, extra_shardings)
    overview = (param_overview(state.generator.params) + "; discriminator: " +
                f"{sum(x.size for x in jax.tree.leaves(state.discriminator.params)):,}")
    return Run(config, models, state, shardings, abstract, extra, extra_shardings, overview)

  loaded = None
  if config.get("init_from"):
    loaded = load_pretrained(config.init_from, config.model)
    missing = [n for n in GENERATOR_NETWORKS if n not in loaded]
    if missing:
      raise ValueError(f"{config.init_from}: no {', '.join(missing)} for the frozen base")
    base = {n: loaded[n] for n in GENERATOR_NETWORKS}
    extra_shardings = mesh_lib.state_shardings(base, mesh, config.sharding)
    extra = place(base, extra_shardings)
  else:
    logging.warning("Stage II without config.init_from: the frozen base is RANDOM (tests only)")
    extra, extra_shardings, _ = sharded_init(setup.extra_inits["base"],
                                             jax.random.fold_in(aux_rng, 7), mesh,
                                             config.sharding)
  state, shardings, abstract = sharded_init(setup.init_fn, init_rng, mesh, config.sharding)
  run = Run(config, models, state, shardings, abstract, extra, extra_shardings,
            param_overview(state.params))
  run._loaded = loaded  # pylint: disable=protected-access
  return run

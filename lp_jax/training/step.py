# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The jitted training steps (Stage I generator + discriminator, Stage II retargeting).

Each step is one `jax.jit` with explicit in/out shardings (the state's rule-derived shardings,
the batch over data x fsdp, everything else replicated) and the state donated, so parameters and
Adam moments are updated in place. Randomness: `rng = fold_in(train_rng, state.step)`, split
per use inside the objectives; a resumed run therefore draws the same numbers at the same step.
BatchNorm statistics are over the global batch: the batch is one sharded array and XLA inserts
the cross-device reductions.
"""

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax

from lp_jax.training import mesh as mesh_lib
from lp_jax.training import variables as variables_lib
from lp_jax.training.objectives import stage1 as stage1_objective
from lp_jax.training.objectives import stage2 as stage2_objective


def _grad_norms(prefix: str, grads) -> dict:
  return {f"l2_grads/{prefix}": optax.tree.norm(grads)}


def stage1_step(state, batch, aux_variables, train_rng, *, models, loss_config):
  """One generator update followed by one discriminator update (on the new fakes).

  Args:
    state: train_state.GanState.
    batch: the global batch (lp_jax.data schema), sharded over data x fsdp.
    aux_variables: {kind: variables or None} for vgg19 / hopenet / arcface (frozen).
    train_rng: the run's training key.
    models: objectives.stage1.Stage1Models (static).
    loss_config: the `loss` ConfigDict (static: jit_step binds it, so it is never traced).
  Returns:
    (new state, metrics {name: scalar}).
  """
  rng = jax.random.fold_in(train_rng, state.step)
  g_rng, d_rng = jax.random.split(rng)
  gen, disc = state.generator, state.discriminator
  # {region: full D variables}: the generator's GAN / feature-matching terms use them frozen.
  disc_variables = {r: variables_lib.merge_variables(disc.params[r],
                                                     (disc.model_state or {}).get(r))
                    for r in disc.params}

  g_fn = jax.value_and_grad(stage1_objective.stage1_generator_loss, argnums=1, has_aux=True)
  (g_total, (g_model_state, g_metrics, generated)), g_grads = g_fn(
      models, gen.params, gen.model_state, disc_variables, aux_variables, batch, g_rng,
      loss_config)
  gen = gen.apply_gradients(grads=g_grads, model_state=g_model_state)

  # The discriminator sees the generator's output as a constant (its own update only).
  generated = jax.lax.stop_gradient(generated)
  d_fn = jax.value_and_grad(stage1_objective.stage1_discriminator_loss, argnums=1, has_aux=True)
  (d_total, (d_model_state, d_metrics)), d_grads = d_fn(
      models, disc.params, disc.model_state, generated, batch, d_rng, loss_config)
  disc = disc.apply_gradients(grads=d_grads, model_state=d_model_state)

  # g_metrics has loss/<term> and loss/total (= g_total), d_metrics loss/disc_<region> and
  # loss/disc_total (= d_total).
  del g_total, d_total
  metrics = {**g_metrics, **d_metrics, **_grad_norms("generator", g_grads),
             **_grad_norms("discriminator", d_grads)}
  metrics = {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
  return state.replace(generator=gen, discriminator=disc), metrics


def stage2_step(state, batch, base_variables, train_rng, *, models, loss_config):
  """One update of the stitching / eye / lip MLPs; `base_variables` (F, M, W, G) are frozen."""
  rng = jax.random.fold_in(train_rng, state.step)
  fn = jax.value_and_grad(stage2_objective.stage2_loss, argnums=1, has_aux=True)
  (total, metrics), grads = fn(models, state.params, base_variables, batch, rng, loss_config)
  state = state.apply_gradients(grads=grads)
  del total  # = metrics["loss/total"]
  metrics = {**metrics, **_grad_norms("retargeting", grads)}
  metrics = {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
  return state, metrics


def jit_step(step_fn, *, models, loss_config, mesh, state_shardings, extra_shardings):
  """`step_fn` jitted with in/out shardings and the state (argument 0) donated.

  Args:
    step_fn: stage1_step or stage2_step.
    models, loss_config: bound as static (closed over) arguments.
    mesh: the training mesh.
    state_shardings: a tree of NamedShardings matching the state.
    extra_shardings: shardings of the third argument (aux variables or the frozen base).
  Returns:
    f(state, batch, extra, train_rng) -> (state, metrics).
  """
  fn = functools.partial(step_fn, models=models, loss_config=loss_config)
  replicated = mesh_lib.replicated(mesh)
  return jax.jit(fn,
                 in_shardings=(state_shardings, mesh_lib.batch_sharding(mesh), extra_shardings,
                               replicated),
                 out_shardings=(state_shardings, replicated),
                 donate_argnums=0)


def metrics_to_host(metrics: dict[str, Any]) -> dict[str, float]:
  return {k: float(v) for k, v in jax.device_get(metrics).items()}

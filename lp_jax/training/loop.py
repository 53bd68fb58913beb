# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`train_and_evaluate(config, workdir)`: the Stage I / Stage II training loop.

Start-up: jax.distributed (multi-process) -> mesh -> sharded state (init_from or scratch) ->
Grain iterator -> resume from the newest complete checkpoint if there is one. Each step: next
per-process batch -> global array (make_array_from_process_local_data) -> jitted step, dispatched
without waiting; at log, eval and checkpoint steps the metrics of every step since the last fetch
come to the host and are checked for NaN/Inf (the run stops naming the step and term, before any
checkpoint can store the state) -> metrics line every log_every steps -> checkpoint every
checkpoint.every steps, on SIGTERM and at the end. Process 0 writes config.json and
metrics.jsonl (the training and the evaluation lines).
"""

import json
import os
import signal
import time
from typing import Callable, Sequence

import jax
import numpy as np
from absl import logging

from lp_jax import data
from lp_jax.training import checkpoint as ckpt_lib
from lp_jax.training import mesh as mesh_lib
from lp_jax.training import metrics as metrics_lib
from lp_jax.training import run as run_lib
from lp_jax.training import step as step_lib
from lp_jax.training.errors import ConfigError


def maybe_initialize_distributed(config) -> None:
  """jax.distributed.initialize() first thing, when the config asks for several processes."""
  dist = config.get("distributed")
  if not dist or jax.distributed.is_initialized():
    return
  if dist.get("auto"):
    jax.distributed.initialize()
  elif dist.num_processes > 1:
    jax.distributed.initialize(coordinator_address=dist.coordinator_address,
                               num_processes=dist.num_processes, process_id=dist.process_id)


class _SigtermFlag:
  """Turns SIGTERM into a flag checked between steps (save, then exit cleanly)."""

  def __init__(self):
    self.raised = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not the main thread (e.g. called from a test runner thread)
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning("SIGTERM: saving a checkpoint after this step, then stopping")
    self.raised = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _write_config(config, workdir: str) -> None:
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      json.dump(config.to_dict(), f, indent=1, sort_keys=True, default=str)


def _fetch_and_check(pending: list) -> dict:
  """Fetches the metrics of the steps in `pending` ([(step, device metrics)]), stops the run at
  the first one with a non-finite value (naming step and term) and returns the last step's."""
  scalars = {}
  for step, host in zip([s for s, _ in pending], jax.device_get([m for _, m in pending])):
    scalars = {k: float(v) for k, v in host.items()}
    metrics_lib.check_finite(step - 1, scalars)
  return scalars


def train_and_evaluate(config, workdir: str, hooks: Sequence[Callable] = ()):
  """Trains (resuming if `workdir` has checkpoints); returns the final state (on the mesh).

  `hooks`: callables hook(step, state) run after each step is dispatched (train.py's debug
  hooks: lp_jax.training.debug_hooks).
  """
  maybe_initialize_distributed(config)
  logging.info("process %d / %d, local devices %s", jax.process_index(), jax.process_count(),
               jax.local_devices())
  workdir = os.path.abspath(workdir)
  devices = jax.devices()
  if config.get("num_devices"):
    devices = devices[:config.num_devices]
  mesh = mesh_lib.create_mesh(config, devices)
  logging.info("mesh %s", dict(mesh.shape))
  n_batch_shards = mesh_lib.batch_shards(mesh)
  if config.batch_size % n_batch_shards or config.batch_size % jax.process_count():
    raise ConfigError(f"config.batch_size {config.batch_size} must be divisible by the "
                      f"{n_batch_shards} batch shards of the mesh and the "
                      f"{jax.process_count()} processes")

  t0 = time.perf_counter()
  # The data source is checked before the (slow) state init, so a bad path fails at once.
  dataset = data.make_train_dataset(config.data, global_batch_size=config.batch_size,
                                    process_index=jax.process_index(),
                                    process_count=jax.process_count())
  data_iter = iter(dataset)
  config.loss.data_landmarks = data.source_has_landmarks(config.data)
  logging.info("data ready after %.1f s", time.perf_counter() - t0)
  _write_config(config, workdir)
  init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
  run = run_lib.build(config, mesh, init_rng)
  logging.info("models and state built in %.1f s", time.perf_counter() - t0)
  train_step = step_lib.jit_step(run.step_fn, models=run.models, loss_config=config.loss,
                                 mesh=mesh, state_shardings=run.shardings,
                                 extra_shardings=run.extra_shardings)

  ckpt = ckpt_lib.Checkpointer(workdir, save_every=config.checkpoint.every,
                               keep=config.checkpoint.keep,
                               async_save=config.checkpoint.async_save)
  state = run.state
  latest = ckpt.latest_step()
  if latest is not None:
    state = ckpt.restore(latest, run.abstract, data_iter)
    logging.info("resuming at step %d", latest)
  else:
    state = run.apply_init_from(state)
  writer = metrics_lib.MetricWriter(workdir)
  timer = metrics_lib.StepTimer()
  # The step is replicated: read this process's copy (device_get of a global array is not
  # allowed when other processes hold some of its shards).
  step = int(np.asarray(state.step.addressable_shards[0].data))
  start_step = step
  if step == 0 and jax.process_index() == 0:
    logging.info("%s", run.overview)
  last_saved = latest
  t0 = time.perf_counter()
  pending = []  # (step, device metrics) not fetched yet
  with _SigtermFlag() as sigterm:
    while step < config.total_steps:
      batch = mesh_lib.global_batch(next(data_iter), mesh)
      with jax.profiler.StepTraceAnnotation("train", step_num=step):
        state, metrics = train_step(state, batch, run.extra, train_rng)
      for hook in hooks:
        hook(step, state)
      step += 1
      pending.append((step, metrics))
      timer.tick()
      log_now = step % config.log_every == 0 or step == config.total_steps
      eval_now = bool(config.eval_every) and step % config.eval_every == 0
      stop = sigterm.raised or ckpt.reached_preemption(step)
      save_now = stop or ckpt.should_save(step)
      # Metrics come to the host only when they are logged or a checkpoint is due (or on the
      # first step, to time the compilation): the host never waits for the device otherwise.
      if log_now or save_now or eval_now or step == start_step + 1:
        scalars = _fetch_and_check(pending)
        pending = []
        if step == start_step + 1:
          logging.info("first step (compilation included) took %.1f s",
                       time.perf_counter() - t0)
        if log_now:
          rate = timer.rate()
          writer.write(step, {**scalars, **({"steps_per_s": rate} if rate else {})})
      if eval_now:
        writer.write(step, run.evaluate(state))
      if ckpt.save(step, state, data_iter, config, force=stop):
        last_saved = step
      if stop:
        logging.warning("stopped at step %d after SIGTERM (checkpoint saved)", step)
        break
    else:
      _fetch_and_check(pending)
      if last_saved != step:
        ckpt.save(step, state, data_iter, config, force=True)
      if config.eval.at_end:
        writer.write(step, run.evaluate(state))
  ckpt.close()
  writer.close()
  logging.info("trained steps %d..%d in %s", start_step, step, workdir)
  if config.export.converted_dir and jax.process_index() == 0 and step >= config.total_steps:
    run.export(state, config.export.converted_dir, config.export.official_dir)
  return state

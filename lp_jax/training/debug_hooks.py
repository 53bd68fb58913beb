# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Step hooks for testing the loop from outside (config.debug), kept out of the loop itself.

train.py passes `from_config(config.debug)` to loop.train_and_evaluate; each hook runs after a
step is dispatched, as hook(step, state) with the 0-based index of that step.
"""

import os
import signal
import time

import jax


def kill_at(step_index: int):
  """SIGKILLs this process once step `step_index` has finished on the device: a reproducible
  preemption in the middle of a run (its metrics are never logged)."""
  def hook(step, state):
    if step == step_index:
      jax.block_until_ready(state)
      os.kill(os.getpid(), signal.SIGKILL)
  return hook


def sleep_per_step(seconds: float):
  """Sleeps after every step (widens the window in which a test's SIGTERM lands mid-run)."""
  def hook(step, state):
    del step, state
    time.sleep(seconds)
  return hook


def from_config(debug) -> list:
  """The hooks config.debug asks for (none by default)."""
  hooks = []
  if debug is not None and int(debug.get("kill_at_step", -1)) >= 0:
    hooks.append(kill_at(int(debug.kill_at_step)))
  if debug is not None and float(debug.get("step_sleep", 0.0)) > 0:
    hooks.append(sleep_per_step(float(debug.step_sleep)))
  return hooks

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Training of LivePortrait (Stage I base model, Stage II stitching and retargeting).

Entry point: `train_and_evaluate(config, workdir)` (train.py, configs/stage1.py, stage2.py).
Modules: mesh (device mesh, sharding rules), state (train states, init / load / export), step
(jitted steps), loop, checkpoint (Orbax), metrics (JSONL, NaN guard); LOSS's objectives,
losses, transforms and regions hold the objectives.
"""


def train_and_evaluate(config, workdir: str):
  """See lp_jax.training.loop.train_and_evaluate (imported lazily: JAX starts on first use)."""
  from lp_jax.training import loop  # pylint: disable=g-import-not-at-top
  return loop.train_and_evaluate(config, workdir)

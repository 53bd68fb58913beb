# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Training of LivePortrait (Stage I base model, Stage II stitching and retargeting).

Entry point: `train_and_evaluate(config, workdir)` (train.py, configs/stage1.py, stage2.py).
Modules, from the loop down:
  loop        the training loop (resume, steps, metrics, checkpoints, eval, export)
  run         one run: a stage's modules, sharded state and step inputs on the mesh
  stages      Stage1 / Stage2: everything that differs between the two trainings
  step        the jitted Stage I / Stage II steps
  objectives  the per-stage objectives (stage1, stage2, common), built from the terms in
              losses, the TPS warps in transforms and the landmark regions in regions
  evaluate    self-reenactment metrics (PSNR, SSIM, L1) on held-out clips
  train_state, variables, initializers, placement, pretrained: the state's types, Flax
              variable handling, torch-default init, placement on the mesh, init_from loading
  mesh        the device mesh and the sharding rules
  checkpoint, metrics, errors: Orbax checkpoints; metrics.jsonl and the NaN guard; error types
  export_workdir, stage2_eval, workdir_config, debug_hooks: a run's checkpoint as inference
              weights; Stage II's held-out figures; a run's config read back; train.py's test
              hooks
"""


def train_and_evaluate(config, workdir: str):
  """See lp_jax.training.loop.train_and_evaluate."""
  # Lazy on purpose: importing the package (e.g. for its errors) must not start JAX.
  from lp_jax.training import loop  # pylint: disable=g-import-not-at-top
  return loop.train_and_evaluate(config, workdir)

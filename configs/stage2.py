# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Stage II: stitching and eye / lip retargeting MLPs on a frozen base model (paper Eq. 5-6).

  python train.py --config configs/stage2.py:tiny --workdir /tmp/lp_stage2_tiny

trains the tiny retargeting MLPs on a random tiny base (or on --config.init_from) with the
sample assets of configs/data.py's tiny data on CPU in seconds; metrics.jsonl shows loss/*
falling. The full run freezes a converted official base or a Stage I run:

  python train.py --config configs/stage2.py --workdir DIR --config.init_from=weights/lp_jax

`init_from` supplies the frozen base (F, M, W, G) and, when it has them, the initial stitching /
eye / lip weights (fine-tuning); without them the MLPs start from scratch. Adding

  --config.loss.landmark_model=pretrained_weights/liveportrait/landmark.onnx

measures the eye / lip openness of the renders with LivePortrait's landmark model, as paper Eq. 6
does, instead of the keypoint-gap proxy (configs/losses.py, `ratios.measure`). `arg` is '',
'tiny' or 'micro'.
"""

import ml_collections

from lp_jax_configs import losses as loss_configs
from lp_jax_configs import stage1


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The Stage II config; `arg` = None/'full' or 'tiny'."""
  c = stage1.get_config(arg)  # model, data, mesh, checkpoint, logging fields as in Stage I
  tiny = arg in ("tiny", "micro")
  c.stage = 2  # retargeting objective; the base is frozen
  c.loss = loss_configs.get_config(2)  # weights of every Stage II term
  c.aux_init = "none"  # Stage II uses no VGG / HopeNet / ArcFace / discriminator
  c.batch_size = 2 if tiny else 64  # global batch
  c.total_steps = 30 if tiny else 60_000  # optimizer steps
  # Required outside tests: the frozen base (converted / official folder or a Stage I workdir).
  # None trains on a random base and logs a warning (tests only).
  c.init_from = None  # (a str placeholder: --config.init_from=DIR works)
  # MLPs trained from scratch start with a zero last Linear, i.e. a zero offset: a random
  # initial offset moves every keypoint and degrades the whole render, and the shortest way
  # down for Adam is then to shrink the offsets to a constant (the stitching MLP of a
  # 600-step train-demo Stage II ended with dead ReLUs and the same offset for every input).
  c.zero_init_offsets = True
  c.eval.at_end = False  # the self-reenactment eval measures the (frozen) base
  if arg == "micro":
    stage1.shrink_to_micro(c)
  return c

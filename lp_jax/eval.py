# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Evaluates a training workdir: self-reenactment PSNR, SSIM and L1 on held-out clips.

  python -m lp_jax.eval --config configs/stage1.py:tiny --workdir /tmp/lp_stage1

evaluates the latest checkpoint in the workdir (or, without one, config.init_from), prints one
JSON line and appends it to <workdir>/eval.jsonl. The metrics are lp_jax.training.evaluate's,
the ones the training loop logs every config.eval_every steps.
"""

import json
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from lp_jax.training import evaluate
from lp_jax.training.errors import ConfigError


def main(argv):
  del argv
  config, workdir = flags.FLAGS.config, flags.FLAGS.workdir
  try:
    result = evaluate.evaluate_workdir(config, workdir)
  except ConfigError as e:
    raise SystemExit(str(e)) from None
  line = json.dumps(result)
  print(line)  # the command's result, on stdout
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "eval.jsonl"), "a") as f:
    f.write(line + "\n")


if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", None, "training config (configs/stage1.py[:tiny])",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "training workdir to evaluate")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
  sys.exit(0)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Trains LivePortrait: Stage I (base model) or Stage II (stitching / retargeting).

  python train.py --config configs/stage1.py:tiny --workdir /tmp/lp_stage1_tiny
  python train.py --config configs/stage2.py --workdir DIR --config.init_from=weights/lp_jax

A rerun with the same workdir resumes from its newest complete checkpoint. Config fields are
overridden with --config.<field>=value; see configs/stage1.py for every field.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "training config file (configs/stage1.py, "
                                "configs/stage2.py, optionally with :tiny)", lock_config=True)
flags.DEFINE_string("workdir", None, "checkpoints, metrics.jsonl and config.json go here")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  # Imported after flag parsing so that --help is instant and JAX sees the final environment.
  # pylint: disable=g-import-not-at-top
  from lp_jax import errors
  from lp_jax.training import debug_hooks, loop

  logging.info("config:\n%s", FLAGS.config)
  try:
    loop.train_and_evaluate(FLAGS.config, FLAGS.workdir,
                            hooks=debug_hooks.from_config(FLAGS.config.get("debug")))
  except errors.UserError as e:  # the configuration or the data, not the code
    sys.exit(errors.report(e))


if __name__ == "__main__":
  app.run(main)

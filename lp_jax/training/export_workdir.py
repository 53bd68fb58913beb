# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A training run's latest checkpoint as weights that infer.py, the app and the evaluation read.

  python -m lp_jax.training.export_workdir --workdir runs/train-demo-stage2 --dst DIR \
      [--official OFFICIAL_DIR] [--description TEXT]

Writes the networks (a Stage II run: with the frozen base of its config.init_from) as a converted
lp_jax directory. Its manifest records the run's whole model config, the sides its networks were
trained to see (the data resolution, F's and M's), and the provenance: workdir, step and
`--description`. `--official` also writes the official .pth layout (needs torch).
"""

import argparse
import os
import sys

from lp_jax import errors
from lp_jax.training import evaluate
from lp_jax.training.errors import ConfigError
from lp_jax.training.objectives.common import input_sizes
from lp_jax.training.workdir_config import load_config
from lp_jax.weights import export as weights_export


def manifest_fields(config) -> dict:
  """export_trained's model fields of a training config: variant, model and input sizes."""
  f_size, m_size = input_sizes(config.loss)
  return {"model_variant": config.model_variant, "model": config.model.to_dict(),
          "input_sizes": {"image": int(config.data.image_size),
                          evaluate.F: f_size, evaluate.M: m_size}}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m lp_jax.training.export_workdir",
                              description=__doc__.split("\n")[0])
  p.add_argument("--workdir", required=True, help="a training workdir")
  p.add_argument("--dst", required=True, help="the converted lp_jax directory to write")
  p.add_argument("--official", help="also write the official .pth layout here (needs torch)")
  p.add_argument("--description", default="", help="recorded in the manifest")
  p.add_argument("--force", action="store_true", help="replace existing destinations")
  args = p.parse_args(sys.argv[1:] if argv is None else argv)
  try:
    config = load_config(None, args.workdir)
    if not os.path.isdir(os.path.join(args.workdir, "checkpoints")):
      raise ConfigError(f"{args.workdir}: no checkpoints to export")
    networks, step = evaluate.workdir_networks(config, args.workdir)
    written = weights_export.export_trained(
        networks, args.dst, args.official, force=args.force, **manifest_fields(config),
        workdir=args.workdir, step=step, stage=int(config.stage),
        description=args.description)
  except errors.UserError as e:  # ConfigError, ConversionError, a missing checkpoint
    return errors.report(e)
  print(f"wrote {args.dst} (step {step}: {', '.join(sorted(networks))})")
  for path in written:
    print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""python -m convert_weights --src OFFICIAL_DIR --dst ORBAX_DIR [--export].

Import:  --src pretrained_weights/liveportrait (or liveportrait_animals) --dst weights/lp_jax
Export:  --export --src weights/lp_jax --dst some/folder  (official layout again; needs torch)
Aux:     --aux vgg19|hopenet|arcface --src FILE --dst DIR [--aux_config tiny|arcface=r50]
         (training's auxiliary networks; see lp_jax/weights/auxiliary.py)

Any problem (missing / unexpected key, wrong shape, unsafe or corrupt file) is reported one line
each on stderr, the exit status is nonzero and nothing is written.
"""

import argparse
import os
import sys

from lp_jax import errors
from lp_jax.models import variants as model_configs
from lp_jax.weights import auxiliary, export, official, orbax_dir
from lp_jax_configs import auxiliary as aux_configs


def _report(e: errors.UserError) -> int:
  """One line per problem of a ConversionError (several: their count too), else the first."""
  problems = getattr(e, "problems", None)
  if not problems:
    return errors.report(e)
  for line in problems:
    print(f"error: {line}", file=sys.stderr)
  if len(problems) > 1:
    print(f"error: {len(problems)} problems; nothing was written", file=sys.stderr)
  return 1


def _wrote(dst: str) -> None:
  print(f"wrote {os.path.join(dst, orbax_dir.CHECKPOINT)} and "
        f"{os.path.join(dst, orbax_dir.MANIFEST)}")


def convert_aux(args) -> int:
  """`--aux KIND --src FILE --dst DIR [--aux_config ARG] [--force]`."""
  try:
    orbax_dir.check_destination(os.path.abspath(args.dst), args.force)  # before any work
    aux_config = errors.config_variant(aux_configs.get_config, args.aux_config)
    variables, manifest = auxiliary.convert_aux(args.aux, args.src, aux_config)
    manifest["aux_config"] = args.aux_config
    orbax_dir.save(args.dst, {args.aux: variables}, manifest, force=args.force)
  except errors.UserError as e:  # ConversionError, a bad --aux_config or weights file
    return _report(e)
  print(f"{args.aux}: {manifest['param_count']:,} parameters from {args.src} "
        f"({len(manifest['dropped_keys'])} unused keys dropped)")
  _wrote(args.dst)
  return 0


def convert_official(args) -> int:
  """`--src OFFICIAL_DIR --dst DIR [--model_config NAME] [--force]`, or with `--export` back."""
  try:
    if args.export:
      for path in export.export_official(args.src, args.dst, force=args.force):
        print(f"wrote {path}")
      return 0
    orbax_dir.check_destination(os.path.abspath(args.dst), args.force)  # before 10 s of work
    config = errors.config_variant(model_configs.get_config, args.model_config)
    variables, manifest = official.convert_official(args.src, config)
    manifest["model_config"] = args.model_config
    orbax_dir.save(args.dst, variables, manifest, force=args.force)
  except errors.UserError as e:  # ConversionError, a bad --model_config
    return _report(e)
  for name, net in manifest["networks"].items():
    print(f"{name}: {net['param_count']:,} parameters from {net['file']}")
  _wrote(args.dst)
  return 0


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m convert_weights", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--src", required=True, help="official weights folder (or, with "
                      "--export, an lp_jax checkpoint directory)")
  parser.add_argument("--dst", required=True, help="output directory")
  parser.add_argument("--export", action="store_true", help="lp_jax -> official .pth files")
  parser.add_argument("--model_config", default="official",
                      help="configs/models.py variant the weights belong to (official, tiny)")
  parser.add_argument("--force", action="store_true", help="replace an existing --dst")
  parser.add_argument("--aux", choices=auxiliary.KINDS,
                      help="convert one auxiliary training network from --src FILE")
  parser.add_argument("--aux_config", default=None,
                      help="configs/auxiliary.py variant for --aux (e.g. arcface=r50, tiny)")
  args = parser.parse_args(argv)
  return convert_aux(args) if args.aux else convert_official(args)


if __name__ == "__main__":
  sys.exit(main())

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""python -m convert_weights --src OFFICIAL_DIR --dst ORBAX_DIR [--export].

Import:  --src pretrained_weights/liveportrait (or liveportrait_animals) --dst weights/lp_jax
Export:  --export --src weights/lp_jax --dst some/folder  (official layout again; needs torch)
Aux:     --aux vgg19|hopenet|arcface --src FILE --dst DIR [--aux_config tiny|arcface=r50]
         (training's auxiliary networks; see convert_weights/auxiliary.py)

Any problem (missing / unexpected key, wrong shape, unsafe or corrupt file) is reported one line
each on stderr, the exit status is nonzero and nothing is written.
"""

import argparse
import os
import sys

# The converter is an offline CPU tool: never grab an accelerator for it.
os.environ.setdefault("JAX_PLATFORMS", "cpu")


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
  parser.add_argument("--aux", choices=("vgg19", "hopenet", "arcface"),
                      help="convert one auxiliary training network from --src FILE")
  parser.add_argument("--aux_config", default=None,
                      help="configs/auxiliary.py variant for --aux (e.g. arcface=r50, tiny)")
  args = parser.parse_args(argv)
  if args.aux:
    from convert_weights import auxiliary  # pylint: disable=g-import-not-at-top
    return auxiliary.main(args)

  from configs import models  # pylint: disable=g-import-not-at-top
  from convert_weights import convert  # pylint: disable=g-import-not-at-top

  try:
    if args.export:
      for path in convert.export_official(args.src, args.dst, force=args.force):
        print(f"wrote {path}")
      return 0
    convert.check_destination(os.path.abspath(args.dst), args.force)  # before 10 s of work
    config = models.get_config(args.model_config)
    variables, manifest = convert.convert_official(args.src, config)
    manifest["model_config"] = args.model_config
    convert.save_orbax(args.dst, variables, manifest, force=args.force)
  except convert.ConversionError as e:
    for line in e.problems or [str(e)]:
      print(f"error: {line}", file=sys.stderr)
    if len(e.problems) > 1:
      print(f"error: {len(e.problems)} problems; nothing was written", file=sys.stderr)
    return 1
  for name, net in manifest["networks"].items():
    print(f"{name}: {net['param_count']:,} parameters from {net['file']}")
  print(f"wrote {os.path.join(args.dst, convert.CHECKPOINT)} and "
        f"{os.path.join(args.dst, convert.MANIFEST)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

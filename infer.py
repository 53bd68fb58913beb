# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Animate a portrait: python infer.py -s source.jpg -d driving.mp4 [official flags].

Run `python infer.py --help` for every option; the flags follow the official LivePortrait CLI
(`--flag_stitching` / `--no_flag_stitching`, `--animation_region`, `--driving_multiplier`, ...).
"""

import sys

from lp_jax.inference.run import run

if __name__ == "__main__":
  sys.exit(run())

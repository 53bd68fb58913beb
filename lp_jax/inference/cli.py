# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Command-line flags of `infer.py`, named like the official CLI (`--flag_stitching` /
`--no_flag_stitching`, `--animation_region`, ...), with a few shorter aliases."""

import argparse
import dataclasses

from lp_jax.inference.options import AUDIO_PRIORITIES, DRIVING_OPTIONS, AnimationOptions
from lp_jax.ops.motion import REGIONS

# Boolean options: (help, short aliases for --flag / --no_flag).
BOOL_FLAGS = {
    "flag_relative_motion": ("relative (default) or absolute motion", ("--relative",
                                                                      "--absolute")),
    "flag_stitching": ("stitching MLP (needed for paste-back)", ("--stitching", "--no_stitching")),
    "flag_eye_retargeting": ("transfer the driving eye-open ratio", ()),
    "flag_lip_retargeting": ("transfer the driving lip-open ratio", ()),
    "flag_normalize_lip": ("close the source lips before animating", ()),
    "flag_source_video_eye_retargeting": ("source video: keep the first frame's eyes", ()),
    "flag_pasteback": ("paste the result back into the source image", ("--pasteback",
                                                                       "--no_pasteback")),
    "flag_do_crop": ("crop the source to its face", ("--crop", "--no_crop")),
    "flag_crop_driving_video": ("crop driving frames (automatic when not square)", ()),
}


def add_animation_flags(parser: argparse.ArgumentParser) -> None:
  defaults = AnimationOptions()
  for name, (help_text, aliases) in BOOL_FLAGS.items():
    default = getattr(defaults, name)
    on = [f"--{name}"] + ([aliases[0]] if aliases else [])
    off = [f"--no_{name}", f"--no-{name}"] + ([aliases[1]] if aliases else [])
    parser.add_argument(*on, dest=name, action="store_true", default=default,
                        help=f"{help_text} (default: {'on' if default else 'off'})")
    parser.add_argument(*off, dest=name, action="store_false", help=argparse.SUPPRESS)
  parser.add_argument("--animation_region", "--region", choices=REGIONS,
                      default=defaults.animation_region, help="what the driving video moves")
  parser.add_argument("--driving_option", choices=DRIVING_OPTIONS,
                      default=defaults.driving_option,
                      help="motion normalisation for an image source and a driving video")
  parser.add_argument("--driving_multiplier", "--multiplier", type=float,
                      default=defaults.driving_multiplier, help="scales the driving motion")
  parser.add_argument("--driving_smooth_observation_variance", type=float,
                      default=defaults.driving_smooth_observation_variance,
                      help="Kalman observation variance for source videos")
  parser.add_argument("--audio_priority", choices=AUDIO_PRIORITIES,
                      default=defaults.audio_priority, help="whose audio the result keeps")
  parser.add_argument("--source_max_dim", type=int, default=defaults.source_max_dim,
                      help="downscale the source so its longer side is at most this")
  parser.add_argument("--source_division", type=int, default=defaults.source_division,
                      help="crop source dimensions to multiples of this")


def options_from_args(args: argparse.Namespace) -> AnimationOptions:
  names = {f.name for f in dataclasses.fields(AnimationOptions)}
  return AnimationOptions(**{k: v for k, v in vars(args).items() if k in names})

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`make demo`: animate a portrait with a driving clip through infer.py's pipeline.

  python -m lp_jax.demo [--weights pretrained_weights] [--source IMG] [--driving VIDEO]
                        [--frames N] [--output_dir animations]

The default inputs ship with the package (`lp_jax/resources/demo/`: the official examples'
`s31.jpg` portrait and `d0.mp4` driving clip, MIT), so the demo needs nothing beside the
repository. With the official `pretrained_weights/` folder present (networks and ONNX face
models), the demo runs the official defaults on the photo: face crop, animation, paste-back.
Without it, it says so and runs the same pipeline on a small synthetic checkpoint (random, untrained
weights of the `tiny` model config, written once to the lp_jax cache) with an already-cropped
source, so a fresh machine still exercises every network stage, the streaming decoder and
the video writer. That output is noise-like and labelled untrained.
"""

import argparse
import hashlib
import os
import sys

from lp_jax_configs import models as model_configs

from lp_jax.detect import models as face_models
from lp_jax.inference import assets
from lp_jax.inference import run as infer_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resources", "demo")
DEMO_SOURCE = os.path.join(DEMO_ASSETS, "s31.jpg")
DEMO_DRIVING = os.path.join(DEMO_ASSETS, "d0.mp4")


def official_weights(path: str) -> bool:
  return os.path.isdir(os.path.join(path, "liveportrait", "base_models"))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m lp_jax.demo", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--weights", default=os.path.join(ROOT, "pretrained_weights"),
                      help="the official pretrained_weights folder")
  parser.add_argument("--source", default=DEMO_SOURCE, help="source image")
  parser.add_argument("--driving", default=DEMO_DRIVING, help="driving video")
  parser.add_argument("--frames", type=int, default=8, help="driving frames to animate")
  parser.add_argument("--batch_size", type=int, default=4, help="frames per W+G call")
  parser.add_argument("--output_dir", default=os.path.join(ROOT, "animations"))
  parser.add_argument("--model_config", default="tiny",
                      help="configs/models.py variant of the synthetic checkpoint")
  args = parser.parse_args(argv)

  flags = ["-d", args.driving, "-o", args.output_dir, "--max_frames", str(args.frames),
           "--batch_size", str(args.batch_size)]
  if official_weights(args.weights):
    print(f"weights: {args.weights} (official)")
    crop = face_models.available(args.weights)
    flags += ["-w", args.weights, "-s", args.source] + ([] if crop else ["--no_flag_do_crop"])
    if not crop:
      print("face models missing: the source must be a face crop; no paste-back")
  else:
    # Keyed by the config's content: a changed variant never reuses stale shapes.
    digest = hashlib.sha256(model_configs.get_config(args.model_config).to_json().encode())
    synthetic = os.path.join(assets.cache_root(), "weights",
                             f"synthetic-{args.model_config}-{digest.hexdigest()[:12]}")
    if not assets.is_synthetic(synthetic):
      assets.write_synthetic(synthetic, args.model_config)
    print(f"weights: {args.weights} not found; running the same pipeline on a small synthetic "
          f"checkpoint ({synthetic}): RANDOM, UNTRAINED weights, so the video shows that every "
          "stage runs, not what LivePortrait looks like. Get the official weights with "
          f"{face_models.DOWNLOAD_HINT}")
    flags += ["-w", synthetic, "-s", args.source, "--no_flag_do_crop"]
  sys.stdout.flush()
  return infer_run.run(flags)


if __name__ == "__main__":
  sys.exit(main())

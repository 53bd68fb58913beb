# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`make demo`: animate a portrait with a driving clip through infer.py's pipeline.

  python -m lp_jax.demo [--weights pretrained_weights] [--source IMG] [--driving VIDEO]
                        [--frames N] [--output_dir animations]

The default inputs ship with the package (`lp_jax/resources/demo/`: `s12_crop.jpg`, the official
examples' `s12.jpg` portrait cut to a square around its face by OpenCV's Haar cascade as the demo
model's training data was, and the `d0.mp4` driving clip; MIT), so the demo needs nothing beside
the repository. With the official `pretrained_weights/` folder present (networks and ONNX face
models), the demo runs the official defaults on the photo: face crop, animation, paste-back.
Without it, it says so and runs the same pipeline on the bundled demo model
(`lp_jax/resources/demo_model/`: small networks that `make train-demo` trained from scratch at
64 px, labelled as such; not the official LivePortrait) with the whole photo as the source.
"""

import argparse
import os
import sys

from lp_jax.detect import models as face_models
from lp_jax.inference import assets
from lp_jax.inference import run as infer_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resources", "demo")
DEMO_SOURCE = os.path.join(DEMO_ASSETS, "s12_crop.jpg")
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
  parser.add_argument("--frames", type=int, default=48, help="driving frames to animate")
  parser.add_argument("--batch_size", type=int, default=4, help="frames per W+G call")
  parser.add_argument("--output_dir", default=os.path.join(ROOT, "animations"))
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
    model = assets.DEMO_MODEL
    print(f"weights: {args.weights} not found; running the bundled demo model ({model}): "
          f"{assets.description(model)}. Get the official weights with "
          f"{face_models.DOWNLOAD_HINT}")
    flags += ["-w", model, "-s", args.source, "--no_flag_do_crop"]
  sys.stdout.flush()
  return infer_run.run(flags)


if __name__ == "__main__":
  sys.exit(main())

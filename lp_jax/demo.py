# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`make demo`: animate a cropped portrait with a driving clip through F, M, W and G.

  python -m lp_jax.demo [--weights pretrained_weights/liveportrait] [--source IMG]
                        [--driving VIDEO] [--frames N] [--output animations/demo.mp4]

With the official weights present they are converted in memory and used; without them the
same networks run on random (untrained) weights, so a fresh machine still exercises every
stage; the output is then noise-like and labelled as untrained. Inputs must already be
face crops (the full cropping pipeline is `infer.py`'s job); the defaults are the shared
example assets s31.jpg (a 256x256 crop) and d0.mp4 (a 512x512 cropped driving video).
"""

import argparse
import os
import sys
import time

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # libav chatter is not our error output
import cv2  # noqa: E402
import jax.numpy as jnp
import numpy as np

from configs import models as model_configs
from lp_jax.io import media
from lp_jax.models import liveportrait
from lp_jax.ops import keypoints, motion
from lp_jax.wrapper import LivePortraitModels

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(ROOT, "..", "shared", "assets")


def read_source(path: str) -> np.ndarray:
  """256x256 RGB float32 in [0, 1] (INTER_AREA when shrinking, like the official crop)."""
  img = media.read_image(path)
  interp = cv2.INTER_AREA if min(img.shape[:2]) > 256 else cv2.INTER_LINEAR
  return cv2.resize(img, (256, 256), interpolation=interp).astype(np.float32) / 255.0


def read_frames(path: str, limit: int) -> tuple[np.ndarray, int]:
  """Up to `limit` frames as [T, 256, 256, 3] RGB in [0, 1] (INTER_LINEAR), and the fps."""
  with media.VideoReader(path, max_frames=limit) as reader:
    frames = [cv2.resize(f, (256, 256), interpolation=cv2.INTER_LINEAR) for f in reader]
  return np.stack(frames).astype(np.float32) / 255.0, reader.info.fps_int


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m lp_jax.demo", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--weights", default=os.path.join(ROOT, "pretrained_weights",
                                                        "liveportrait"))
  parser.add_argument("--source", default=os.path.join(ASSETS, "source", "s31.jpg"))
  parser.add_argument("--driving", default=os.path.join(ASSETS, "driving", "d0.mp4"))
  parser.add_argument("--frames", type=int, default=8, help="driving frames to animate")
  parser.add_argument("--batch_size", type=int, default=4, help="frames per W+G call")
  parser.add_argument("--output", default=os.path.join(ROOT, "animations", "demo.mp4"))
  parser.add_argument("--model_config", default="official",
                      help="configs/models.py variant (tiny: a fast smoke run)")
  args = parser.parse_args(argv)

  try:
    source = read_source(args.source)
    driving, fps = read_frames(args.driving, args.frames)
  except media.MediaError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  if args.frames < 1 or args.batch_size < 1:
    print("error: --frames and --batch_size must be positive", file=sys.stderr)
    return 1
  config = model_configs.get_config(args.model_config)
  if os.path.isdir(args.weights):
    print(f"weights: {args.weights}")
    models = LivePortraitModels.from_pretrained(args.weights, config)
  else:
    print(f"weights: {args.weights} not found; using RANDOM, UNTRAINED weights "
          "(the output shows the pipeline runs, not what LivePortrait looks like)")
    models = LivePortraitModels({n: liveportrait.random_variables(n, config, i)
                                 for i, n in enumerate(liveportrait.NETWORKS)}, config)
  start = time.perf_counter()
  src_img = jnp.asarray(source[None])
  f_s = models.extract_feature_3d(src_img)
  src = models.get_kp_info(src_img)
  x_s = keypoints.transform_kp_info(src)
  drv = models.get_kp_info(jnp.asarray(driving))
  drv0 = {k: v[:1] for k, v in drv.items()}
  x_d = motion.driving_keypoints(src, drv, drv0)  # relative motion, region "all"
  x_d = models.stitching(x_s, x_d)
  outputs = []
  for i in range(0, len(x_d), args.batch_size):
    chunk = x_d[i:i + args.batch_size]
    pad = args.batch_size - len(chunk)  # pad the last batch: one compiled shape
    chunk = jnp.concatenate([chunk, jnp.repeat(chunk[-1:], pad, axis=0)]) if pad else chunk
    out = np.asarray(models.warp_decode(f_s, x_s, chunk)["out"])[: args.batch_size - pad]
    outputs.append((np.clip(out, 0, 1) * 255).astype(np.uint8))  # truncation, as official
    print(f"frames {i + len(out)}/{len(x_d)}  {time.perf_counter() - start:.1f}s", flush=True)
  with media.VideoWriter(args.output, fps) as writer:  # renamed into place on a clean exit
    for frame in np.concatenate(outputs):
      writer.write(frame)
  print(f"wrote {args.output} ({len(x_d)} frames, 512x512, {fps:g} fps)")
  return 0


if __name__ == "__main__":
  sys.exit(main())

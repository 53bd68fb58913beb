# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The train-demo recipe: a Stage I that learns from scratch in an hour on a 2-core CPU.

  make train-demo          # = python train.py --config configs/train_demo.py --workdir runs/train-demo
  make train-demo-stage2   # = configs/train_demo.py:stage2 on the Stage I run

Data: the real clips and photos of $LP_SHARED/assets (train/videos, train/images, driving/,
source/), each cut to one square around its face by OpenCV's Haar cascade. Held out (never
trained on; the run's evaluation reenacts them): the three clips whose faces move the most,
source/s13.mp4, train/videos/lp_d12.mp4 and train/videos/xportrait_driving_video.mp4
(copy-the-source scores 12.8, 16.8 and 17.8 dB on them at 64 px). On a near-static clip such as
driving/d0.mp4 (33.5 dB) the score measures only how sharply the small networks redraw the
source, not whether they animate it.

What runs, and why: the micro networks (configs/models.py 'micro', with a 16x16 volume) at
64x64, batch 8. M sees the frames at 128x128: at 64 its ConvNeXt ends on a 2x2 map, from which
it learns the position of a face far more slowly (its keypoints did not follow a shifted image
within 1000 steps of the equivariance loss alone at 64; at 128 they did). No pretrained VGG-19,
HopeNet or ArcFace can be downloaded here, so the perceptual, head-pose and identity terms are
off; the image term is an L1 pyramid ('pixel'). The folder source has no landmarks, so Wing and
the face / lip crop terms are off. The GAN terms are off: on a CPU hour the discriminators cost
more steps than they give. Equivariance, the keypoint prior and the
deformation prior run as in the paper.

`arg`: '' (Stage I) or 'stage2' (the retargeting MLPs on the Stage I run's networks).
"""

import os

import ml_collections
from ml_collections import config_dict

from lp_jax_configs import data as data_configs
from lp_jax_configs import stage1
from lp_jax_configs import stage2

HELD_OUT = ("source/s13.mp4", "train/videos/lp_d12.mp4",
            "train/videos/xportrait_driving_video.mp4")
STAGE1_WORKDIR = os.path.join("runs", "train-demo")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, "", "stage2"):
    raise ValueError(f"configs/train_demo.py: unknown arg {arg!r} (expected '' or 'stage2')")
  c = (stage2 if arg == "stage2" else stage1).get_config("micro")
  c.data = data_configs.get_config()
  c.data.root = data_configs.SHARED_ASSETS
  c.data.tfds_dir = config_dict.placeholder(str)  # --config.data.tfds_dir=DIR works
  c.data.exclude = ("resources/*",)
  c.data.image_size = c.loss.network_image_size = 64
  c.loss.motion_image_size = 128
  # F downsamples 64 -> 16 (the micro tests' 8x8 volume is too coarse to render a face), so G
  # renders the 64x64 frame itself.
  c.model.appearance_feature_extractor.num_down_blocks = 2
  c.data.eval_names = HELD_OUT
  c.data.eval_num_frames = 1000  # whole clips, as python -m lp_jax.eval scores them
  c.data.eval_frame_stride = 1
  c.data.eval_max_clips = len(HELD_OUT)
  c.data.num_workers = 0
  c.data.read_threads = 2
  c.data.cache_mb = 2048  # every decoded 80x80 clip stays in memory
  c.data.clip_cache_mb = 256
  c.num_devices = 1
  c.optimizer.learning_rate = 5e-4
  c.checkpoint.every = 500
  c.checkpoint.keep = 2
  c.log_every = 50
  c.eval.at_end = True
  c.eval.batch_size = 16
  if arg == "stage2":
    c.init_from = STAGE1_WORKDIR
    c.batch_size = 8
    c.total_steps = 600
    c.checkpoint.every = 200
    c.eval.at_end = False
  else:
    c.batch_size = 8
    c.total_steps = 3000  # ~0.93 s a step on the 2-core CPU: under an hour with the evaluations
    c.eval_every = 500
    c.loss.weights.pixel = 10.0
    # Photos are the only pairs whose motion is known to be a whole-face move: each side gets
    # its own zoom, shift and rotation, so they teach M to follow a face around the frame.
    c.data.mixture = dict(video=0.7, image=0.3)
    c.data.augment.translate = 0.1
    c.data.augment.scale = 0.15
    c.data.augment.rotate_deg = 10.0
    # The equivariance warps: twice face-vid2vid's affine spread, for the same reason.
    c.loss.equivariance.sigma_affine = 0.1
  return c

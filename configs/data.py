# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Training-data config: where clips come from, how pairs are sampled, augmented and held out.

Usage:

  from lp_jax_configs import data
  cfg = data.get_config()        # full size (256x256), folder or TFDS source set by the caller
  cfg = data.get_config("tiny")  # 256x256, $LP_SHARED/assets, no workers, 8 eval frames

  ds = lp_jax.data.make_train_dataset(cfg, global_batch_size=8)
  batch = next(iter(ds))          # source/driving [B, S, S, 3] float32 in [0, 1], ...

Sources, in order of preference: `tfds_dir` (an ArrayRecord dataset written by
`python -m lp_jax.data.tfds_builder --root FOLDER --tfds_dir DIR`, random access, precomputed
crops and landmarks) or `root` (a folder, searched recursively, of .mp4/.avi/.mov videos and
.jpg/.jpeg/.png images, decoded on the fly and centre-cropped). Expected outcome of one `next()`:
a dict of numpy arrays with the batch schema documented in lp_jax/data/pipeline.py.
"""

import os

import ml_collections

# $LP_SHARED/assets: the tiny config's clips and photos (configs/train_demo.py's too).
from lp_jax.shared import SHARED_ASSETS


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the data config; `arg` may be None/'full' or 'tiny'."""
  c = ml_collections.ConfigDict()

  c.root = None  # folder of videos and images (recursive); used when tfds_dir is None
  c.tfds_dir = None  # TFDS data_dir holding a built `lp_clips` dataset; takes precedence over root
  c.exclude = ()  # glob patterns (relative to root, '/'-separated) of files to leave out
  c.tfds_name = "default"  # builder-config name inside tfds_dir/lp_clips/ (one per build recipe)
  c.image_size = 256  # S: side of the square source/driving frames in a batch
  # Relative weights of video pairs and still-image pairs in the stream (normalised; a kind that
  # has weight 0 or no clips is dropped from the mixture).
  c.mixture = dict(video=0.8, image=0.2)
  c.seed = 0  # seeds shuffling, pair sampling and augmentation (per element, see lp_jax.data)
  c.max_frame_gap = 0  # max |source - driving| frame distance in a video pair; 0 = whole clip

  c.num_workers = 0  # Grain worker processes (mp_prefetch); 0 = decode in the reader threads
  c.worker_buffer_size = 2  # batches each worker prepares ahead
  c.read_threads = 2  # reader threads per process (ReadOptions.num_threads); 0 = calling thread
  c.prefetch_buffer_size = 4  # elements each reader buffers ahead (ReadOptions)

  # Decoded-frame geometry of the folder source: each frame is centre-cropped to a square and
  # resized to base_scale * image_size, the canvas that the augmentation warps from (a margin so
  # that zoom-in jitter keeps full resolution).
  c.base_scale = 1.25
  # Folder source: each clip (video or photo) is cut to one square around its face for all of
  # its frames, found by OpenCV's bundled Haar cascade (lp_jax.data.face_crop); a file without a
  # face is skipped with a warning. 'none': the centre square of every frame.
  c.face_crop = dict(
      detector="haar",  # 'haar' or 'none'
      scale=1.75,  # crop side / the cascade's face box side
      shift_up=0.07,  # crop centre above the box centre, in box sides
      sample_frames=5,  # frames per video the box is the median over
  )
  # Per-process cache of decoded clips (MiB). Clips whose decoded frames fit in clip_cache_mb are
  # decoded whole once and kept; longer ones are read by seeking, two frames per pair.
  c.cache_mb = 1024
  c.clip_cache_mb = 256

  # Augmentation, drawn per element from Grain's per-element generator.
  c.augment = dict(
      scale=0.1,  # zoom factor uniform in [1 - scale, 1 + scale]
      translate=0.05,  # shift uniform in +-translate * crop side, x and y independently
      rotate_deg=5.0,  # in-plane rotation uniform in +-rotate_deg
      flip_prob=0.5,  # horizontal flip (both frames together; never when landmarks exist)
      brightness=0.2,  # multiply by uniform [1 - b, 1 + b]
      contrast=0.2,  # blend with the mean grey by uniform [1 - c, 1 + c]
      saturation=0.2,  # blend with the greyscale image by uniform [1 - s, 1 + s]
      hue=0.02,  # hue rotation uniform in +-hue turns
  )

  # Held-out evaluation clips (videos only; stills are always trained on). A video is held out
  # when its path relative to the source root is in eval_names, or, if eval_names is empty, when
  # the hash of that path falls below eval_fraction. Held-out clips never appear in training.
  c.eval_names = ()
  c.eval_fraction = 0.05
  c.eval_num_frames = 32  # frames per eval clip (from the start, every eval_frame_stride-th)
  c.eval_frame_stride = 1
  c.eval_max_clips = 16  # cap on the number of eval clips returned

  # TFDS build recipe (python -m lp_jax.data.tfds_builder): crop size of the stored frames, how long
  # videos are split into clips, and the optional face models for face crops and 203 landmarks.
  c.tfds_build = dict(
      frame_size=256,  # side of the stored square frames
      max_clip_frames=256,  # videos longer than this become several clips (bounded records)
      frame_stride=1,  # keep every n-th frame of a video
      weights_dir=None,  # pretrained_weights folder with the ONNX face models; None = centre crop
      crop_scale=2.3,  # face crop side / face size (LivePortrait's source crop scale)
      crop_vy_ratio=-0.125,  # vertical shift of the face crop (LivePortrait's source crop)
  )

  if arg == "tiny":
    c.root = SHARED_ASSETS if os.path.isdir(SHARED_ASSETS) else None
    # The paste-back mask is not a portrait; train/ holds the training-recipe clips, which the
    # tiny smoke config leaves out (it reads the sample photos and clips beside them).
    c.exclude = ("resources/*", "train/*")
    c.face_crop.detector = "none"  # the smoke tests read the files as they are
    c.image_size = 256
    c.num_workers = 0
    c.read_threads = 1
    c.prefetch_buffer_size = 2
    c.cache_mb = 512
    c.eval_names = ("driving/d0.mp4",)  # a pre-cropped talking head; d11/s13 and photos train
    c.eval_num_frames = 8
    c.eval_max_clips = 1
  elif arg not in (None, "", "full"):
    raise ValueError(f"configs/data.py: unknown arg {arg!r} (expected 'full' or 'tiny')")
  return c

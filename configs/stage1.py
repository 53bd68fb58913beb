# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Stage I: the base model (F, M, W, G) trained together with the discriminators.

  python train.py --config configs/stage1.py:tiny --workdir /tmp/lp_stage1_tiny

trains the narrow 'tiny' networks on the sample assets of configs/data.py's tiny data (videos
and photos mixed, $LP_SHARED/assets) on CPU in seconds per step; metrics.jsonl in the workdir
shows loss/* falling over the first few dozen steps and checkpoints/ holds the last
`checkpoint.keep` checkpoints (a rerun resumes). The full recipe (official widths, pretrained
VGG-19 / HopeNet / ArcFace, fine-tuning from the released weights) is

  python train.py --config configs/stage1.py --workdir gs://bucket/lp_stage1 \
    --config.data.tfds_dir=... --config.init_from=weights/lp_jax \
    --config.aux.paths.vgg19=weights/vgg19 --config.aux.paths.hopenet=weights/hopenet \
    --config.aux.paths.arcface=weights/arcface

`arg` is '' / 'full', 'tiny' or 'micro' (tiny shrunk to 64 px with the keypoint terms only: the
training-mechanics tests and AOT compiles, a step in seconds).
"""

import ml_collections
from ml_collections import config_dict

from lp_jax_configs import auxiliary as aux_configs
from lp_jax_configs import data as data_configs
from lp_jax_configs import losses as loss_configs
from lp_jax_configs import models as model_configs


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The Stage I config; `arg` = None/'full', 'tiny' or 'micro'."""
  if arg not in (None, "", "full", "tiny", "micro"):
    raise ValueError(f"configs/stage1.py: unknown arg {arg!r} (expected 'full', 'tiny' or "
                     "'micro')")
  micro = arg == "micro"
  tiny = arg in ("tiny", "micro")
  c = ml_collections.ConfigDict()
  c.stage = 1  # which objective / state the loop builds
  c.seed = 0  # root of the init / train RNG streams (data has its own: data.seed)

  # configs/models.py variant (also written to exported manifests); tiny_train = tiny widths and a
  # 32x32 feature volume, cheap enough to train on CPU in tests.
  c.model_variant = "micro" if micro else "tiny_train" if tiny else "official"
  c.model = model_configs.get_config(c.model_variant)  # F, M, W, G (and retargeting) widths
  c.aux = aux_configs.get_config("tiny" if tiny else None)  # VGG / HopeNet / ArcFace / D
  # Auxiliary weights: 'paths' loads aux.paths.* (a None path turns its terms off);
  # 'random' initialises VGG / HopeNet / ArcFace randomly (tests: every term runs, meaninglessly).
  c.aux_init = "random" if tiny else "paths"
  c.data = data_configs.get_config("tiny" if tiny else None)  # Grain stream (lp_jax.data)
  c.loss = loss_configs.get_config(1)  # weights of every Stage I term

  c.batch_size = 2 if tiny else 32  # global batch (split over processes, then mesh devices)
  c.total_steps = 30 if tiny else 200_000  # optimizer steps
  # Adam, lr 2e-4, betas (0.5, 0.999) for generator and discriminator (face-vid2vid).
  c.optimizer = dict(learning_rate=2e-4, b1=0.5, b2=0.999,
                     grad_clip_norm=0.0)  # > 0: clip the global gradient norm first
  c.mixed_precision = False  # True: bfloat16 compute, float32 params / optimizer / statistics
  # Rematerialisation (lp_jax/models/remat.py): 'none' keeps every activation for the backward
  # pass; 'blocks' recomputes W's hourglass blocks and G's SPADE blocks there instead, trading
  # FLOPs for memory (docs/aot.md "Stage I per chip" measures both).
  c.remat = "none"

  # Device mesh: (axis, size) with one -1 = the remaining devices; batch over data x fsdp.
  c.mesh = [("data", -1), ("fsdp", 1)]
  c.num_devices = 0  # build the mesh over the first N global devices; 0 = all of them
  c.sharding = dict(
      # (regex over the leaf path, 'fsdp' | 'replicate'): first match wins, for params and
      # optimizer state alike (Adam moments have the param's path as a suffix).
      rules=[(".*", "fsdp")],
      fsdp_min_size=2 ** 14,  # leaves with fewer elements stay replicated
  )

  # Converted official dir / official folder / Stage I workdir; None = from scratch.
  c.init_from = config_dict.placeholder(str)
  c.checkpoint = dict(
      every=10 if tiny else 2000,  # save every N steps (and on SIGTERM, and at the end)
      keep=3,  # keep the newest K complete checkpoints
      async_save=True,  # write in a background thread while training goes on
  )
  c.log_every = 1 if tiny else 50  # steps between metric lines (every step is NaN-checked)
  c.eval_every = 0 if tiny else 10_000  # steps between held-out evaluations; 0 = only at the end
  c.eval = dict(
      at_end=not tiny,  # evaluate after the last step
      batch_size=4,  # driving frames per eval call
  )
  c.export = ml_collections.ConfigDict(dict(
      # Write the final networks as a converted lp_jax dir here (None: no export) ...
      converted_dir=config_dict.placeholder(str),
      official_dir=config_dict.placeholder(str),  # ... and in the official .pth layout (torch)
  ))
  # Multi-process: jax.distributed.initialize(coordinator_address, num_processes, process_id)
  # when num_processes > 1; 'auto' calls it without arguments (TPU pods, SLURM, ...).
  c.distributed = dict(coordinator_address="", num_processes=1, process_id=0, auto=False)
  c.debug = dict(
      kill_at_step=-1,  # tests: SIGKILL this process right after dispatching this step
      step_sleep=0.0,  # tests: seconds to sleep per step (widens the window for a SIGTERM)
  )
  if micro:
    shrink_to_micro(c)
  # None-valued paths of the data / aux configs become typed placeholders, so that
  # --config.data.root=DIR and --config.aux.paths.vgg19=DIR work on the command line.
  for node, keys in ((c.data, ("root", "tfds_dir")), (c.aux.paths, ("vgg19", "hopenet",
                                                                   "arcface"))):
    for k in keys:
      if node[k] is None:
        node[k] = config_dict.placeholder(str)
  return c


def shrink_to_micro(c: ml_collections.ConfigDict) -> None:
  """64 px data and networks, no discriminator, VGG, HopeNet or ArcFace: F, M, W, G with the
  keypoint terms and Wing only (Stage II: its usual terms on the micro base)."""
  c.aux_init = "none"
  c.data.image_size = c.loss.network_image_size = 64
  if c.stage == 1:
    for term in ("gan", "feature_matching", "perceptual"):
      for suffix in ("", "_face", "_lip"):
        c.loss.weights[term + suffix] = 0.0
  c.loss.regions.face_crop_size = c.loss.regions.lip_crop_size = 32

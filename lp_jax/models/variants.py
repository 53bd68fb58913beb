# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The networks' hyper-parameters by variant: the official LivePortrait `src/config/models.yaml`
and narrow variants with the same wiring.

The released human and animal weights share the official architecture. The library builds
networks from a variant name (a converted directory's manifest names one; infer.py, the app,
the benchmarks and the AOT jobs take one), so the variants live here; configs/models.py
re-exports `get_config` for the training configs. Usage:

  from lp_jax.models import variants
  cfg = variants.get_config()              # the official networks
  cfg = variants.get_config("tiny")        # a narrow variant with the same wiring, for CPU tests
  cfg = variants.get_config("tiny_train")  # tiny with a 32x32 volume: CPU training tests
  cfg = variants.get_config("micro")       # tiny shrunk to 64 px: training-mechanics tests

Every network field keeps the official name so that the yaml and this file can be diffed.
"""

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the model config; `arg` may be None/'official', 'tiny', 'tiny_train' or 'micro'."""
  c = ml_collections.ConfigDict()

  # Appearance feature extractor F: 256x256 RGB -> 32-channel x 16-depth x 64 x 64 volume.
  c.appearance_feature_extractor = dict(
      image_channel=3,  # RGB input
      block_expansion=64,  # channels after the first conv
      num_down_blocks=2,  # 2-D downsampling blocks (256 -> 64)
      max_features=512,  # channel cap; also the 2-D channels reshaped into the volume
      reshape_channel=32,  # channels of the 3-D volume
      reshape_depth=16,  # depth of the 3-D volume
      num_resblocks=6,  # pre-activation 3-D residual blocks
  )
  # Motion extractor M: ConvNeXt-V2-tiny with seven heads.
  c.motion_extractor = dict(
      num_kp=21,  # implicit keypoints
      num_bins=66,  # head-pose bins per angle (3 degrees each)
      depths=(3, 3, 9, 3),  # ConvNeXt-V2 blocks per stage (official: tiny)
      dims=(96, 192, 384, 768),  # ConvNeXt-V2 channels per stage
  )
  # Warping module W with its dense-motion hourglass.
  c.warping_module = dict(
      num_kp=21,
      block_expansion=64,  # unused by the released net beyond `max_features // 2` outputs
      max_features=512,  # 2-D channels after warping (C x D of the volume)
      num_down_blocks=2,
      reshape_channel=32,  # channels of the warped volume
      estimate_occlusion_map=True,  # predict and apply the occlusion map
      dense_motion_params=dict(
          block_expansion=32,  # hourglass base width
          max_features=1024,  # hourglass channel cap
          num_blocks=5,  # hourglass levels
          reshape_depth=16,  # depth of the motion volume
          compress=4,  # channels of the compressed source volume
      ),
  )
  # SPADE generator G: 64x64x256 warped features -> 512x512 RGB.
  c.spade_generator = dict(
      upscale=2,  # PixelShuffle factor of the last conv (256 -> 512)
      block_expansion=64,
      max_features=512,
      num_down_blocks=2,  # input channels = min(max_features, block_expansion * 2**num_down_blocks)
  )
  # Stitching / retargeting MLPs: (input size, hidden sizes, output size).
  c.stitching = dict(input_size=126, hidden_sizes=(128, 128, 64), output_size=65)  # S
  c.lip = dict(input_size=65, hidden_sizes=(128, 128, 64), output_size=63)  # R_lip
  c.eye = dict(input_size=66, hidden_sizes=(256, 256, 128, 128, 64), output_size=63)  # R_eyes

  if arg in ("tiny", "tiny_train", "micro"):  # same wiring, narrow widths: CPU tests in seconds
    c.appearance_feature_extractor.block_expansion = 8
    c.appearance_feature_extractor.max_features = 64
    c.appearance_feature_extractor.reshape_channel = 16
    c.appearance_feature_extractor.reshape_depth = 4  # a shallow volume: W is ~4x cheaper
    c.warping_module.max_features = 64
    c.warping_module.reshape_channel = 16
    c.warping_module.dense_motion_params.reshape_depth = 4
    c.warping_module.dense_motion_params.block_expansion = 4
    c.warping_module.dense_motion_params.max_features = 32
    c.spade_generator.block_expansion = 8
    c.spade_generator.max_features = 32
    # A narrow, one-block-per-stage ConvNeXt: M costs ~1/300 of the official FLOPs, so a
    # Stage I step (M runs on source and driving, forward and backward) stays CPU-cheap.
    c.motion_extractor.depths = (1, 1, 1, 1)
    c.motion_extractor.dims = (16, 32, 64, 128)
  if arg == "tiny_train":
    # For CPU training tests: F downsamples 256 -> 32, so W and G work on a 32x32 volume and G
    # renders 256x256 (the objectives compare at the data resolution either way). W and G are
    # ~4x cheaper; G's SPADE layers (128 hidden channels, fixed) dominate a tiny step otherwise.
    c.appearance_feature_extractor.num_down_blocks = 3
  elif arg == "micro":
    # The training-mechanics tests (sharding, resume, processes) and AOT compiles: 64 px in, so
    # a step compiles and runs in seconds. F downsamples 64 -> 8 with one res-block, a 2-level
    # hourglass, 8-wide SPADE MLPs and no PixelShuffle (G renders 32, resized to the data size).
    c.appearance_feature_extractor.num_down_blocks = 3
    c.appearance_feature_extractor.num_resblocks = 1
    c.warping_module.dense_motion_params.num_blocks = 2
    c.spade_generator.spade_hidden = 8
    c.spade_generator.upscale = 1
  elif arg not in (None, "", "official", "tiny"):
    raise ValueError(f"unknown model config variant {arg!r} (use 'official', 'tiny', "
                     "'tiny_train' or 'micro')")
  return c

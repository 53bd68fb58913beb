# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Auxiliary networks of Stage I training: VGG-19, HopeNet, ArcFace and the discriminators.

  from lp_jax_configs import auxiliary
  cfg = auxiliary.get_config()                 # upstream widths, every pretrained term off
  cfg = auxiliary.get_config("tiny")           # narrow widths for CPU tests (random weights)
  cfg = auxiliary.get_config("arcface=r50")    # iresnet50 instead of iresnet100

`arg` is a comma-separated list of `tiny` and `arcface=r18|r34|r50|r100`. A pretrained term is
on when its `paths.<kind>` names a converted directory (`python -m convert_weights --aux KIND
--src FILE --dst DIR --aux_config ARG`) or the upstream file itself; None turns it off.
"""

import ml_collections
from ml_collections.config_dict import placeholder

from lp_jax.models.auxiliary.arcface import IRESNET_LAYERS


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the auxiliary-network config; see the module docstring for `arg`."""
  opts = dict(tok.split("=", 1) if "=" in tok else (tok, True)
              for tok in (arg or "").split(",") if tok.strip() not in ("", "default"))
  unknown = set(opts) - {"tiny", "arcface"}
  if unknown:
    raise ValueError(f"unknown auxiliary config option(s) {sorted(unknown)} "
                     "(use tiny and/or arcface=r18|r34|r50|r100)")
  c = ml_collections.ConfigDict()
  # VGG-19 perceptual pyramid (torchvision `vgg19().features`), relu1_1 ... relu5_1.
  c.vgg19 = dict(widths=(64, 128, 256, 512, 512))  # channels of the five stages
  # HopeNet head-pose estimator (hopenet_robust_alpha1.pkl): ResNet-50 + 3 x 66 bins.
  c.hopenet = dict(
      layers=(3, 4, 6, 3),  # Bottleneck blocks per stage
      width=64,  # planes of layer1
      num_bins=66,  # 3-degree bins
      image_size=224,  # input side inside the network
      antialias=True,  # low-pass filter when shrinking the input to image_size
  )
  # ArcFace IResNet (insightface arcface_torch backbone.pth).
  c.arcface = dict(
      layers=IRESNET_LAYERS["r100"],  # IBasicBlocks per stage (r100; r50 = 3, 4, 14, 3)
      width=64,  # channels of layer1
      num_features=512,  # embedding size
      image_size=112,  # input side inside the network (fc needs 112 -> 7x7)
      antialias=True,  # low-pass filter when shrinking the input to image_size
  )
  # Multi-scale patch discriminator (trained from scratch, no pretrained weights).
  c.discriminator = dict(
      scales=(1, 0.5),  # input scales (anti-aliased downsampling)
      block_expansion=64,  # channels of the first block
      num_blocks=4,  # DownBlock2d per scale; inputs need >= 53 / min(scales) pixels a side
      max_features=512,  # channel cap
      sn=True,  # spectral norm on every conv
  )
  # Pretrained weights: converted Orbax dir or upstream file; None = the term is off.
  # Typed placeholders, so that `--config.aux.paths.vgg19=DIR` overrides a None default.
  c.paths = dict(vgg19=placeholder(str), hopenet=placeholder(str), arcface=placeholder(str))

  if "arcface" in opts:
    if opts["arcface"] not in IRESNET_LAYERS:
      raise ValueError(f"unknown arcface depth {opts['arcface']!r} (use {sorted(IRESNET_LAYERS)})")
    c.arcface.layers = IRESNET_LAYERS[opts["arcface"]]
  if opts.get("tiny"):  # same wiring, narrow and shallow: random weights in CPU tests
    c.vgg19.widths = (4, 8, 8, 16, 16)
    c.hopenet.layers = (1, 1, 1, 1)
    c.hopenet.width = 4
    c.arcface.layers = (1, 1, 1, 1)
    c.arcface.width = 4
    c.discriminator.block_expansion = 4
    c.discriminator.max_features = 16
    c.discriminator.num_blocks = 3  # inputs need >= 25 / min(scales) = 50 pixels a side
  return c

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Appearance feature extractor F: source image -> 3-D appearance feature volume f_s."""

import flax.linen as nn
import jax.numpy as jnp

from lp_jax.models import kernels, util


class AppearanceFeatureExtractor(nn.Module):
  """[B, 256, 256, 3] RGB in [0, 1] -> f_s [B, D=16, 64, 64, C=32]."""
  image_channel: int = 3
  block_expansion: int = 64
  num_down_blocks: int = 2
  max_features: int = 512
  reshape_channel: int = 32
  reshape_depth: int = 16
  num_resblocks: int = 6
  dtype: util.Dtype = jnp.float32
  forms: kernels.KernelForms = kernels.forms_field()  # liveportrait.build sets the platform's

  @nn.compact
  def __call__(self, image, train: bool = False):
    x = util.SameBlock2d(self.block_expansion, dtype=self.dtype, forms=self.forms,
                         name="first")(image, train)
    for i in range(self.num_down_blocks):
      feats = min(self.max_features, self.block_expansion * (2 ** (i + 1)))
      x = util.DownBlock2d(feats, self.dtype, self.forms, name=f"down_blocks.{i}")(x, train)
    x = util.conv(self.max_features, 1, forms=self.forms, dtype=self.dtype,
                  name="second")(x)  # no norm, no activation
    x = channels_to_volume(x, self.reshape_channel, self.reshape_depth)
    for i in range(self.num_resblocks):
      x = util.ResBlock3d(self.reshape_channel, self.dtype, self.forms,
                          name=f"resblocks_3d.3dr{i}")(x, train)
    return x


def channels_to_volume(x, channels: int, depth: int):
  """[B, H, W, C*D] -> [B, D, H, W, C], with PyTorch's channel index ch = c * depth + d."""
  b, h, w, _ = x.shape
  return x.reshape(b, h, w, channels, depth).transpose(0, 4, 1, 2, 3)


def volume_to_channels(x):
  """[B, D, H, W, C] -> [B, H, W, C*D], the inverse of `channels_to_volume`."""
  b, d, h, w, c = x.shape
  return x.transpose(0, 2, 3, 4, 1).reshape(b, h, w, c * d)

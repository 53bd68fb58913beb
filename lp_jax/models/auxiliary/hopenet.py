# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""HopeNet head-pose estimator (Ruiz et al. 2018): ResNet-50 + three 66-bin angle classifiers.

Layout of the public `hopenet_robust_alpha1.pkl` state dict (deep-head-pose `Hopenet` with
torchvision's `Bottleneck`, stride on the 3x3 conv): `conv1`, `bn1`, `layer1..4.N.{conv1,bn1,
conv2,bn2,conv3,bn3}`, `layerK.0.downsample.{0,1}` (1x1 conv + BatchNorm), `fc_yaw`,
`fc_pitch`, `fc_roll`. The file's vestigial `fc_finetune` (unused by the forward pass) is
dropped by the converter. Submodule names equal those keys, so conversion is the shared rule.

Bins are 3 degrees wide from -99: `logits_to_degrees` is the softmax expectation * 3 - 99.
"""

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lp_jax.models import util
from lp_jax.models.auxiliary import common
from lp_jax.models.auxiliary.vgg19 import IMAGENET_MEAN, IMAGENET_STD
from lp_jax.ops import resize

RESNET50_LAYERS = (3, 4, 6, 3)
EXPANSION = 4  # Bottleneck output channels = 4 * planes


class Bottleneck(nn.Module):
  """torchvision Bottleneck: 1x1 -> 3x3 (stride) -> 1x1 (4x planes), BN after each, residual."""
  planes: int
  stride: int = 1
  downsample: bool = False
  dtype: util.Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    bn = functools.partial(common.frozen_batch_norm, self.dtype)
    conv = lambda feats, k, stride, pad, name: util.conv(
        feats, k, stride=stride, padding=pad, use_bias=False, dtype=self.dtype, name=name)
    out = nn.relu(bn("bn1")(conv(self.planes, 1, 1, 0, "conv1")(x)))
    out = nn.relu(bn("bn2")(conv(self.planes, 3, self.stride, 1, "conv2")(out)))
    out = bn("bn3")(conv(self.planes * EXPANSION, 1, 1, 0, "conv3")(out))
    if self.downsample:
      x = conv(self.planes * EXPANSION, 1, self.stride, 0, "downsample.0")(x)
      x = bn("downsample.1")(x)
    return nn.relu(out + x)


class HopeNet(nn.Module):
  """RGB [B, H, W, 3] in [0, 1] -> (yaw, pitch, roll) logits, [B, num_bins] each (float32).

  The input is resized to `image_size` (224, the training size) and ImageNet-normalised inside.
  """
  layers: Sequence[int] = RESNET50_LAYERS  # Bottlenecks per stage (ResNet-50: 3, 4, 6, 3)
  width: int = 64  # planes of layer1 (doubling per stage); the stem has `width` channels
  num_bins: int = 66  # 3-degree bins from -99 to +99
  image_size: int = 224  # side the network sees
  antialias: bool = True  # low-pass when shrinking the input (see ops.resize.resize)
  dtype: util.Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    bn = functools.partial(common.frozen_batch_norm, self.dtype)
    x = resize.resize(x.astype(jnp.float32), self.image_size, self.antialias)
    mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)
    std = jnp.asarray(IMAGENET_STD, jnp.float32)
    x = ((x - mean) / std).astype(self.dtype)
    x = util.conv(self.width, 7, stride=2, padding=3, use_bias=False, dtype=self.dtype,
                  name="conv1")(x)
    x = nn.relu(bn("bn1")(x))
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    inplanes = self.width
    for stage, blocks in enumerate(self.layers):
      planes = self.width * 2 ** stage
      stride = 1 if stage == 0 else 2
      for i in range(blocks):
        # torchvision adds the projection shortcut where the shape changes: first block only.
        downsample = i == 0 and (stride != 1 or inplanes != planes * EXPANSION)
        x = Bottleneck(planes, stride if i == 0 else 1, downsample, self.dtype,
                       name=f"layer{stage + 1}.{i}")(x)
        inplanes = planes * EXPANSION
    # AvgPool2d(7) on the 7x7 map of a 224 input is this global mean; the mean also keeps
    # other image sizes meaningful.
    x = jnp.mean(x.astype(jnp.float32), axis=(1, 2)).astype(self.dtype)  # [B, 4 * 8 * width]
    dense = lambda name: nn.Dense(self.num_bins, dtype=self.dtype, name=name,
                                  kernel_init=util.torch_kernel_init)
    return tuple(dense(name)(x).astype(jnp.float32) for name in ("fc_yaw", "fc_pitch", "fc_roll"))


def logits_to_degrees(logits: jax.Array) -> jax.Array:
  """[..., num_bins] bin logits -> [...] angle in degrees: E[bin index] * 3 - 99 (HopeNet)."""
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  idx = jnp.arange(logits.shape[-1], dtype=jnp.float32)
  return jnp.sum(probs * idx, axis=-1) * 3.0 - 99.0

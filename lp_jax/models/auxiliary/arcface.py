# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""ArcFace identity embedding: IResNet in the layout of insightface's `arcface_torch`.

Chosen layout: the PyTorch `backbone.pth` that `recognition/arcface_torch` trains and publishes
(iresnet50 / iresnet100 in the insightface model zoo), not the ONNX export: a state dict converts
by a short rule table and needs no graph parsing. Keys:

  conv1, bn1, prelu                                  stem (3x3 stride 1, 112 -> 112)
  layerK.N.{bn1, conv1, bn2, prelu, conv2, bn3}      IBasicBlock (stride on conv2)
  layerK.0.downsample.{0, 1}                         1x1 strided conv + BatchNorm
  bn2, fc, features                                  BatchNorm2d, Linear(C*7*7 -> 512),
                                                     BatchNorm1d

The first block of every stage halves the resolution (112 -> 56 -> 28 -> 14 -> 7).
PReLU weights become `params/.../prelu/negative_slope` (one slope per channel). `fc` flattens
in PyTorch's NCHW order, so the module transposes to channels-first before flattening and the
`fc` kernel converts with a plain transpose.
"""

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lp_jax.models import util
from lp_jax.models.auxiliary import common
from lp_jax.ops import resize

FC_SIDE = 7  # spatial side after the four stride-2 stages of a 112 input (fc_scale = 7 * 7)
# IBasicBlocks per stage of each arcface_torch IResNet depth (configs/auxiliary.py's `arcface=`).
IRESNET_LAYERS = {"r18": (2, 2, 2, 2), "r34": (3, 4, 6, 3), "r50": (3, 4, 14, 3),
                  "r100": (3, 13, 30, 3)}


class PReLU(nn.Module):
  """torch.nn.PReLU(num_parameters=C): max(0, x) + slope_c * min(0, x), slope init 0.25."""
  dtype: util.Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    slope = self.param("negative_slope", nn.initializers.constant(0.25), (x.shape[-1],))
    return jnp.where(x >= 0, x, slope.astype(self.dtype) * x)


class IBasicBlock(nn.Module):
  """BN -> conv3x3 -> BN -> PReLU -> conv3x3 (stride) -> BN, plus the (projected) input."""
  planes: int
  stride: int = 1
  downsample: bool = False
  dtype: util.Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    bn = functools.partial(common.frozen_batch_norm, self.dtype)
    conv = lambda k, stride, pad, name: util.conv(
        self.planes, k, stride=stride, padding=pad, use_bias=False, dtype=self.dtype, name=name)
    out = bn("bn1")(x)
    out = conv(3, 1, 1, "conv1")(out)
    out = PReLU(self.dtype, name="prelu")(bn("bn2")(out))
    out = conv(3, self.stride, 1, "conv2")(out)
    out = bn("bn3")(out)
    if self.downsample:
      x = bn("downsample.1")(conv(1, self.stride, 0, "downsample.0")(x))
    return out + x  # no activation after the sum in IResNet


class ArcFace(nn.Module):
  """RGB [B, H, W, 3] in [0, 1] -> identity embedding [B, num_features] (float32, not normed).

  The input is resized to `image_size` (112, the aligned-crop size of arcface_torch) and mapped
  to [-1, 1] inside, as arcface_torch's `(img / 255 - 0.5) / 0.5`. Compare embeddings by cosine.
  """
  layers: Sequence[int] = IRESNET_LAYERS["r100"]  # IBasicBlocks per stage
  width: int = 64  # channels of the stem and layer1 (doubling per stage)
  num_features: int = 512  # embedding size
  image_size: int = 112  # side the network sees; fc expects a 7x7 map, so keep 112
  antialias: bool = True  # low-pass when shrinking the input (see ops.resize.resize)
  dtype: util.Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    bn = functools.partial(common.frozen_batch_norm, self.dtype)
    x = resize.resize(x.astype(jnp.float32), self.image_size, self.antialias)
    x = (x * 2.0 - 1.0).astype(self.dtype)
    x = util.conv(self.width, 3, padding=1, use_bias=False, dtype=self.dtype, name="conv1")(x)
    x = PReLU(self.dtype, name="prelu")(bn("bn1")(x))
    for stage, blocks in enumerate(self.layers):
      for i in range(blocks):
        # Every stage starts with stride 2, so every first block has the projection shortcut.
        x = IBasicBlock(self.width * 2 ** stage, 2 if i == 0 else 1, i == 0, self.dtype,
                        name=f"layer{stage + 1}.{i}")(x)
    x = bn("bn2")(x)  # [B, 7, 7, 8 * width]
    b = x.shape[0]
    x = jnp.transpose(x, (0, 3, 1, 2)).reshape(b, -1)  # torch.flatten order (C, H, W)
    x = nn.Dense(self.num_features, dtype=self.dtype, kernel_init=util.torch_kernel_init,
                 name="fc")(x)
    return bn("features")(x).astype(jnp.float32)


def cosine_similarity(a: jax.Array, b: jax.Array, eps: float = 1e-8) -> jax.Array:
  """[..., D] x [..., D] -> [...] cosine of the angle between embeddings."""
  a = a.astype(jnp.float32)
  b = b.astype(jnp.float32)
  num = jnp.sum(a * b, axis=-1)
  return num / jnp.maximum(jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1), eps)

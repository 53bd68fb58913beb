# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""VGG-19 feature pyramid for the perceptual loss (torchvision `vgg19().features` layout).

The five outputs are relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1, sliced as face-vid2vid /
FOMM do: `features[0:2]`, `[2:7]`, `[7:12]`, `[12:21]`, `[21:30]`. Convolutions are named
`features.N` with torchvision's Sequential index N, so `features.N.weight` maps to
`params/features.N/kernel` by the shared rule (`lp_jax/weights/key_rules.py`). The three last
convolutions of torchvision's net (`features.30/32/34`) and the classifier come after relu5_1
and are not part of the module; the converter drops them from a full torchvision file.
"""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from lp_jax.models import util

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_WIDTHS = (64, 128, 256, 512, 512)
# Convolutions per stage in VGG-19 (torchvision cfg "E"); each stage ends with a 2x2 max pool.
CONVS_PER_STAGE = (2, 2, 4, 4, 4)
NUM_OUTPUTS = 5  # relu1_1 ... relu5_1


def layer_plan(widths: Sequence[int] = TORCHVISION_WIDTHS) -> list[tuple[int, str, int]]:
  """torchvision's `features` up to relu5_1: (Sequential index, kind, width).

  kind is 'conv', 'relu', 'pool', or 'out' for the first ReLU of a stage (relu k_1), whose
  result is pyramid level k - 1.
  """
  plan, index = [], 0
  for stage, (n, width) in enumerate(zip(CONVS_PER_STAGE, widths)):
    for i in range(n):
      plan += [(index, "conv", width), (index + 1, "out" if i == 0 else "relu", width)]
      index += 2
      if stage == NUM_OUTPUTS - 1:  # relu5_1 is the last output: nothing after it is needed
        return plan
    plan.append((index, "pool", width))
    index += 1
  raise AssertionError("unreachable")


def conv_indices(widths: Sequence[int] = TORCHVISION_WIDTHS) -> list[int]:
  """Sequential indices of the convolutions the pyramid uses (0, 2, 5, ..., 28)."""
  return [i for i, kind, _ in layer_plan(widths) if kind == "conv"]


class Vgg19(nn.Module):
  """RGB [B, H, W, 3] in [0, 1] -> (relu1_1, relu2_1, relu3_1, relu4_1, relu5_1), NHWC.

  ImageNet mean/std normalisation is applied inside, as face-vid2vid's Vgg19 does. The weights
  are frozen in training (the loss never differentiates with respect to them), so there is no
  train mode. Level k has `widths[k]` channels at 1 / 2**k of the input size.
  """
  widths: Sequence[int] = TORCHVISION_WIDTHS  # channels of the five stages (torchvision: 64..512)
  dtype: util.Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    if len(self.widths) != NUM_OUTPUTS:
      raise ValueError(f"Vgg19 needs {NUM_OUTPUTS} stage widths, got {tuple(self.widths)}")
    mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)
    std = jnp.asarray(IMAGENET_STD, jnp.float32)
    x = ((x.astype(jnp.float32) - mean) / std).astype(self.dtype)
    outputs = []
    for index, kind, width in layer_plan(self.widths):
      if kind == "conv":
        x = util.conv(width, 3, padding=1, dtype=self.dtype, name=f"features.{index}")(x)
      elif kind == "pool":
        x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")  # floor, like MaxPool2d(2)
      else:
        x = nn.relu(x)
        if kind == "out":
          outputs.append(x)
    return tuple(outputs)

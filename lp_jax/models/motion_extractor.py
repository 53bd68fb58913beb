# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Motion extractor M: canonical keypoints, head pose bins, expression, scale, translation."""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from lp_jax.models import convnextv2, kernels, util


class MotionExtractor(nn.Module):
  """Wraps the ConvNeXt-V2 `detector`; returns the raw heads as a dict of [B, n] arrays.

  `depths` / `dims` default to the official ConvNeXt-V2-tiny; narrower values give a cheap M
  with the same wiring and variable names (configs/models.py 'tiny').
  """
  num_kp: int = 21
  num_bins: int = 66
  depths: Sequence[int] = (3, 3, 9, 3)  # blocks per stage
  dims: Sequence[int] = (96, 192, 384, 768)  # channels per stage
  dtype: util.Dtype = jnp.float32
  forms: kernels.KernelForms = kernels.forms_field()  # liveportrait.build sets the platform's

  @nn.compact
  def __call__(self, image):
    return convnextv2.ConvNeXtV2(depths=tuple(self.depths), dims=tuple(self.dims),
                                 num_bins=self.num_bins, num_kp=self.num_kp, dtype=self.dtype,
                                 forms=self.forms, name="detector")(image)

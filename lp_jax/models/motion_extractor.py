# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Motion extractor M: canonical keypoints, head pose bins, expression, scale, translation."""

import flax.linen as nn
import jax.numpy as jnp

from lp_jax.models import convnextv2, util


class MotionExtractor(nn.Module):
  """Wraps the ConvNeXt-V2-tiny `detector`; returns the raw heads as a dict of [B, n] arrays."""
  num_kp: int = 21
  num_bins: int = 66
  dtype: util.Dtype = jnp.float32

  @nn.compact
  def __call__(self, image):
    return convnextv2.ConvNeXtV2(num_bins=self.num_bins, num_kp=self.num_kp, dtype=self.dtype,
                                 name="detector")(image)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Stitching and eye / lip retargeting MLPs: Linear-ReLU stacks, no output activation."""

from typing import Sequence

import flax.linen as nn

from lp_jax.models import util


class StitchingRetargetingNetwork(nn.Module):
  """Linear layers named `mlp.0`, `mlp.2`, ... (ReLUs sit at the odd Sequential indices)."""
  input_size: int
  hidden_sizes: Sequence[int]
  output_size: int

  @nn.compact
  def __call__(self, x):
    sizes = list(self.hidden_sizes) + [self.output_size]
    for i, size in enumerate(sizes):
      x = nn.Dense(size, kernel_init=util.torch_kernel_init, name=f"mlp.{2 * i}")(x)
      if i < len(sizes) - 1:
        x = nn.relu(x)
    return x

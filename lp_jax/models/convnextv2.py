# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""ConvNeXt-V2 backbone with LivePortrait's seven motion heads (official `convnextv2.py`)."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lp_jax.models import kernels, util

HEADS = {"kp": "fc_kp", "pitch": "fc_pitch", "yaw": "fc_yaw", "roll": "fc_roll", "t": "fc_t",
         "exp": "fc_exp", "scale": "fc_scale"}


def dense(features: int, dtype, name: str) -> nn.Dense:
  return nn.Dense(features, dtype=dtype, kernel_init=util.torch_kernel_init, name=name)


class GRN(nn.Module):
  """Global response normalisation: L2 over H, W, divided by its channel mean (+1e-6)."""
  dtype: util.Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    gamma = self.param("gamma", nn.initializers.zeros, (1, 1, 1, c))
    beta = self.param("beta", nn.initializers.zeros, (1, 1, 1, c))
    x32 = x.astype(jnp.float32)
    gx = jnp.sqrt(jnp.sum(jnp.square(x32), axis=(1, 2), keepdims=True))
    nx = gx / (jnp.mean(gx, axis=-1, keepdims=True) + 1e-6)
    return (gamma * (x32 * nx) + beta + x32).astype(self.dtype)


class Block(nn.Module):
  """ConvNeXt-V2 block: dwconv 7x7 -> LN -> Linear 4x -> exact GELU -> GRN -> Linear, residual."""
  dim: int
  dtype: util.Dtype = jnp.float32
  forms: kernels.KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x):
    y = util.conv(self.dim, 7, padding=3, groups=self.dim, forms=self.forms, dtype=self.dtype,
                  name="dwconv")(x)
    y = util.LayerNorm(dtype=self.dtype, name="norm")(y)
    y = dense(4 * self.dim, self.dtype, "pwconv1")(y)
    y = jax.nn.gelu(y, approximate=False)  # the official block uses the erf form
    y = GRN(self.dtype, name="grn")(y)
    y = dense(self.dim, self.dtype, "pwconv2")(y)
    return x + y


class ConvNeXtV2(nn.Module):
  """[B, 256, 256, 3] -> dict of raw head outputs (no activation on any head)."""
  depths: Sequence[int] = (3, 3, 9, 3)
  dims: Sequence[int] = (96, 192, 384, 768)
  num_bins: int = 66
  num_kp: int = 21
  dtype: util.Dtype = jnp.float32
  forms: kernels.KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x):
    for i, (depth, dim) in enumerate(zip(self.depths, self.dims)):
      if i == 0:  # stem: 4x4 patchify conv, then LayerNorm
        x = util.conv(dim, 4, stride=4, forms=self.forms, dtype=self.dtype,
                      name="downsample_layers.0.0")(x)
        x = util.LayerNorm(dtype=self.dtype, name="downsample_layers.0.1")(x)
      else:  # LayerNorm, then 2x2 stride-2 conv
        x = util.LayerNorm(dtype=self.dtype, name=f"downsample_layers.{i}.0")(x)
        x = util.conv(dim, 2, stride=2, forms=self.forms, dtype=self.dtype,
                      name=f"downsample_layers.{i}.1")(x)
      for j in range(depth):
        x = Block(dim, self.dtype, self.forms, name=f"stages.{i}.{j}")(x)
    x = jnp.mean(x.astype(jnp.float32), axis=(1, 2))  # global average pool -> [B, C]
    x = util.LayerNorm(dtype=jnp.float32, name="norm")(x)
    out_dims = {"kp": 3 * self.num_kp, "pitch": self.num_bins, "yaw": self.num_bins,
                "roll": self.num_bins, "t": 3, "exp": 3 * self.num_kp, "scale": 1}
    return {k: dense(out_dims[k], jnp.float32, HEADS[k])(x) for k in HEADS}

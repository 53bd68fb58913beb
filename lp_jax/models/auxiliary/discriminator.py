# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Multi-scale patch discriminator (FOMM / face-vid2vid `MultiScaleDiscriminator`).

Per scale, a stack of DownBlock2d (4x4 valid conv, optional spectral norm, affine InstanceNorm
on every block but the first, LeakyReLU 0.2, 2x2 average pool on every block but the last) and
a final 1x1 conv to a one-channel logit map. Scales below 1 see the input blurred by a Gaussian
of sigma (1 / scale - 1) / 2 and subsampled (FOMM's `AntiAliasInterpolation2d`).

Spectral norm reuses the generator's `SpectralNormConv`: the power-iteration vectors live in the
`spectral` collection and advance once per call with `train=True` (apply with
`mutable=["spectral"]`), so the training step treats D's state like G's. Trained from scratch:
there is no converter for it; names follow FOMM (`discs.<scale>`, `down_blocks.N`, `conv`,
`norm`) so a future one is a rule table like the others.
"""

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lp_jax.models import util
from lp_jax.models.spade_generator import SpectralNormConv

KERNEL_SIZE = 4


def gaussian_kernel(scale: float) -> tuple[np.ndarray, int, int]:
  """FOMM's anti-alias kernel for `scale`: (normalised [k, k] kernel, pad before, pad after)."""
  sigma = (1.0 / scale - 1.0) / 2.0
  size = 2 * round(sigma * 4) + 1
  ka = size // 2
  kb = ka - 1 if size % 2 == 0 else ka
  t = np.arange(size, dtype=np.float64) - (size - 1) / 2
  g = np.exp(-t ** 2 / (2 * sigma ** 2))
  kernel = np.outer(g, g)
  return (kernel / kernel.sum()).astype(np.float32), ka, kb


def anti_alias_downsample(x: jax.Array, scale: float) -> jax.Array:
  """Gaussian blur (zero padding) then nearest subsampling by `scale` (< 1) of NHWC images."""
  if scale == 1:
    return x
  kernel, ka, kb = gaussian_kernel(scale)
  c = x.shape[-1]
  k = jnp.asarray(np.tile(kernel[:, :, None, None], (1, 1, 1, c)), x.dtype)  # [k, k, 1, C]
  out = jax.lax.conv_general_dilated(x, k, (1, 1), [(ka, kb), (ka, kb)],
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                     feature_group_count=c)
  # F.interpolate(scale_factor=s, mode='nearest'): out size floor(H * s), source floor(i / s).
  h, w = out.shape[1:3]
  rows = np.floor(np.arange(int(math.floor(h * scale))) / scale).astype(np.int32)
  cols = np.floor(np.arange(int(math.floor(w * scale))) / scale).astype(np.int32)
  return _take_static(_take_static(out, rows, 1), cols, 2)


def _take_static(x: jax.Array, index: np.ndarray, axis: int) -> jax.Array:
  """x at constant indices along `axis`: a strided slice where they step evenly (scale 1/k, the
  discriminator's pyramid), whose transpose is a pad, not a gather and its scatter-add."""
  steps = np.diff(index)
  if len(index) > 1 and steps[0] > 0 and np.all(steps == steps[0]):
    return jax.lax.slice_in_dim(x, int(index[0]), int(index[-1]) + 1, int(steps[0]), axis)
  return jnp.take(x, index, axis=axis)


def min_input_size(num_blocks: int) -> int:
  """Smallest side a Discriminator with `num_blocks` blocks accepts (1x1 logit map)."""
  side = KERNEL_SIZE  # the last block's conv needs a kernel-sized input
  for _ in range(num_blocks - 1):
    side = 2 * side + KERNEL_SIZE - 1  # undo a pool (floor) and a valid 4x4 conv
  return side


class DownBlock2d(nn.Module):
  """4x4 valid conv (spectral-normed with `sn`) -> [InstanceNorm] -> LeakyReLU 0.2 -> [pool]."""
  features: int
  norm: bool = False
  pool: bool = False
  sn: bool = True
  dtype: util.Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.sn:
      x = SpectralNormConv(self.features, KERNEL_SIZE, padding=0, dtype=self.dtype,
                           name="conv")(x, train)
    else:
      x = util.conv(self.features, KERNEL_SIZE, dtype=self.dtype, name="conv")(x)
    if self.norm:
      # InstanceNorm2d(affine=True): eps 1e-5, two-pass variance as PyTorch computes it.
      x = nn.InstanceNorm(epsilon=1e-5, use_fast_variance=False, dtype=self.dtype,
                          name="norm")(x)
    x = nn.leaky_relu(x, 0.2)
    return util.avg_pool(x, (2, 2)) if self.pool else x


class Discriminator(nn.Module):
  """Image [B, H, W, C] -> (feature maps of every block, logit map [B, h, w, 1])."""
  block_expansion: int = 64  # channels of the first block (doubling per block)
  num_blocks: int = 4
  max_features: int = 512  # channel cap
  sn: bool = True  # spectral norm on every conv
  dtype: util.Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    side = min(x.shape[1:3])
    if side < min_input_size(self.num_blocks):
      raise ValueError(f"discriminator input {x.shape[1]}x{x.shape[2]} is too small for "
                       f"{self.num_blocks} blocks (needs >= {min_input_size(self.num_blocks)} "
                       f"per side at this scale)")
    feature_maps = []
    out = x.astype(self.dtype)
    for i in range(self.num_blocks):
      feats = min(self.max_features, self.block_expansion * 2 ** (i + 1))
      out = DownBlock2d(feats, norm=i != 0, pool=i != self.num_blocks - 1, sn=self.sn,
                        dtype=self.dtype, name=f"down_blocks.{i}")(out, train)
      feature_maps.append(out)
    if self.sn:
      logits = SpectralNormConv(1, 1, padding=0, dtype=self.dtype, name="conv")(out, train)
    else:
      logits = util.conv(1, 1, dtype=self.dtype, name="conv")(out)
    return feature_maps, logits.astype(jnp.float32)


def scale_name(scale: float) -> str:
  """FOMM's ModuleDict key of a scale: 1 -> '1', 0.5 -> '0-5'."""
  scale = float(scale)
  return str(int(scale)) if scale.is_integer() else str(scale).replace(".", "-")


class MultiScaleDiscriminator(nn.Module):
  """One Discriminator per scale; returns [(feature maps, logits)] in the order of `scales`.

  Inputs are RGB in [0, 1] at any size >= `min_input_size(num_blocks) / min(scales)`.
  """
  scales: Sequence[float] = (1, 0.5)
  block_expansion: int = 64
  num_blocks: int = 4
  max_features: int = 512
  sn: bool = True
  dtype: util.Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    results = []
    for scale in self.scales:
      disc = Discriminator(self.block_expansion, self.num_blocks, self.max_features, self.sn,
                           self.dtype, name=f"discs.{scale_name(scale)}")
      results.append(disc(anti_alias_downsample(x.astype(jnp.float32), scale), train))
    return results

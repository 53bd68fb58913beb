# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Building blocks shared by the LivePortrait networks (official `src/modules/util.py`).

Layouts are channels-last: NHWC for 2-D maps, NDHWC for feature volumes. Every layer matches
PyTorch's defaults explicitly (symmetric integer padding, BatchNorm eps 1e-5 / momentum 0.1,
two-pass variances) because Flax's defaults differ and each difference breaks parity.

Submodule names equal the PyTorch attribute names; entries of a `nn.Sequential` / `ModuleList`
are named `<attr>.<index>` (e.g. `down_blocks.0`), so a PyTorch key maps to a Flax path by
splitting on the dots that do not precede a digit (see `lp_jax/weights/key_rules.py`).
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lp_jax.models import conv_forms, kernels, upsample_conv
from lp_jax.models.conv_forms import Conv3x3, torch_kernel_init

Dtype = Any


def conv(features: int, kernel_size: int | Sequence[int], *, ndim: int = 2, padding: int = 0,
         stride: int = 1, groups: int = 1, use_bias: bool = True, dtype: Dtype = jnp.float32,
         name: str | None = None) -> nn.Module:
  """A PyTorch-style Conv2d/Conv3d: explicit symmetric zero padding, cross-correlation."""
  if ndim == 3 and stride == 1 and groups == 1:
    assert isinstance(kernel_size, int)
    return Conv3d(features, kernel_size, padding, use_bias, dtype, name=name)
  if ndim == 2 and kernel_size in (3, (3, 3)) and (padding, stride, groups) == (1, 1, 1):
    return Conv3x3(features, use_bias, dtype, name=name)
  if isinstance(kernel_size, int):
    kernel_size = (kernel_size,) * ndim
  nd = len(kernel_size)
  return nn.Conv(features, tuple(kernel_size), strides=(stride,) * nd,
                 padding=[(padding, padding)] * nd, feature_group_count=groups,
                 use_bias=use_bias, dtype=dtype, kernel_init=torch_kernel_init, name=name)


class Conv3d(nn.Module):
  """torch.nn.Conv3d (stride 1, symmetric padding), with nn.Conv's variable names and shapes.

  The algorithm (direct, depth-folded, Winograd, FFT) is the backend's choice for this layer's
  shapes: `conv_forms.conv3d`. All are exact up to float32 rounding.
  """
  features: int
  kernel_size: int
  padding: int = 0
  use_bias: bool = True
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    kernel = self.param("kernel", torch_kernel_init, (k, k, k, x.shape[-1], self.features))
    y = conv_forms.conv3d(self, x.astype(self.dtype), kernel.astype(self.dtype), self.padding)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y


class UpsampleConv3d(nn.Module):
  """Nearest 2x on H and W, then Conv3d 3x3x3 (padding 1), with Conv3d's variables."""
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", torch_kernel_init, (3, 3, 3, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    _, _, h, w, _ = x.shape
    # Depth-folded from 8x8 inputs up (measured on XLA:CPU, AVX-512: 1.1x at 8x8, 2.4x at 32x32
    # over the direct 3-D conv of the phase kernels), i.e. the fold threshold of the output.
    forms = kernels.forms_of(self)  # CPU: fold from 64, i.e. 8x8 inputs
    y = conv_forms.conv3d_folded_or_direct(
        x.astype(self.dtype), upsample_conv.phase_kernel_3d(kernel.astype(self.dtype)), 1, 1,
        forms.phase3d_fold_min_hw, forms.conv3d_fold_pad)
    return upsample_conv.interleave_phases(y, h, w) + bias.astype(self.dtype)


class UpsampleConv2d(nn.Module):
  """Nearest upsample by 2 ** `doublings`, then a 3x3 conv (padding 1), nn.Conv's variables.

  The last doubling is folded into the conv; earlier ones (if any) are plain repeats.
  """
  features: int
  doublings: int = 1
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", torch_kernel_init, (3, 3, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    x = upsample_nearest(x.astype(self.dtype), 2 ** (self.doublings - 1), axes=(1, 2))
    return (upsample_conv.upsample2x_conv3x3(x, kernel.astype(self.dtype)) +
            bias.astype(self.dtype))


class TapsConv2d(nn.Module):
  """Conv2d with very few outputs (the occlusion head: 2272 -> 1, 7x7) as GEMM + shifted sums.

  A direct conv with one output channel is a GEMM with N = 1, which XLA:CPU runs ~8x slower
  than one dot to the k*k*O per-tap outputs followed by k*k shifted adds. Variables are those of
  nn.Conv (kernel [k, k, I, O], bias [O]).
  """
  features: int
  kernel_size: int
  padding: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    k, p = self.kernel_size, self.padding
    b, h, w, c = x.shape
    kernel = self.param("kernel", torch_kernel_init, (k, k, c, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    taps = kernel.transpose(2, 0, 1, 3).reshape(c, k * k * self.features).astype(self.dtype)
    y = jnp.dot(x.astype(self.dtype).reshape(-1, c), taps).reshape(b, h, w, k, k, self.features)
    y = jnp.pad(y, ((0, 0), (p, p), (p, p), (0, 0), (0, 0), (0, 0)))
    h_out, w_out = h + 2 * p - k + 1, w + 2 * p - k + 1
    out = sum(y[:, i:i + h_out, j:j + w_out, :, :, :][:, :, :, i, j] for i in range(k)
              for j in range(k))
    return out + bias.astype(self.dtype)


class BatchNorm(nn.Module):
  """torch.nn.BatchNorm{2,3}d over the last axis: eps 1e-5, momentum 0.1, two-pass variances.

  Flax's nn.BatchNorm tracks the *biased* batch variance; PyTorch's running_var tracks the
  unbiased one (n / (n - 1)), so a Flax-trained running_var drifts low and an exported
  checkpoint would normalise differently in PyTorch. Normalisation itself uses the biased
  variance in both. Variables are those of nn.BatchNorm (params scale/bias, batch_stats
  mean/var), so conversion rules are unchanged. Under `jit` with a sharded batch the statistics
  are over the global batch (XLA inserts the all-reduce); no axis_name is needed.
  """
  use_running_average: bool = True
  momentum: float = 0.1  # PyTorch convention: new = (1 - momentum) * old + momentum * batch
  epsilon: float = 1e-5
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
    ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
    scale = self.param("scale", nn.initializers.ones, (c,))
    bias = self.param("bias", nn.initializers.zeros, (c,))
    x32 = x.astype(jnp.float32)  # statistics in float32 even under bf16 compute
    axes = tuple(range(x.ndim - 1))
    if self.use_running_average:
      mean, var = ra_mean.value, ra_var.value
    else:
      mean = jnp.mean(x32, axis=axes)
      var = jnp.mean(jnp.square(x32 - mean), axis=axes)  # biased: used to normalise
      if not self.is_initializing():
        n = x.size // c
        unbiased = var * (n / max(n - 1, 1))
        m = self.momentum
        ra_mean.value = (1 - m) * ra_mean.value + m * jax.lax.stop_gradient(mean)
        ra_var.value = (1 - m) * ra_var.value + m * jax.lax.stop_gradient(unbiased)
    # Same operation order as nn.BatchNorm, so inference numerics are unchanged.
    mul = jax.lax.rsqrt(var + self.epsilon) * scale
    y = (x32 - mean) * mul + bias
    return y.astype(self.dtype)


def batch_norm(train: bool, dtype: Dtype = jnp.float32, name: str | None = None) -> BatchNorm:
  """torch.nn.BatchNorm{2,3}d in train (batch statistics, running update) or eval mode."""
  return BatchNorm(use_running_average=not train, dtype=dtype, name=name)


def instance_norm(x: jax.Array, eps: float = 1e-5) -> jax.Array:
  """InstanceNorm2d(affine=False): per-sample, per-channel, biased variance over H and W."""
  mean = jnp.mean(x, axis=(1, 2), keepdims=True)
  centered = x - mean
  var = jnp.mean(jnp.square(centered), axis=(1, 2), keepdims=True)
  return centered * jax.lax.rsqrt(var + eps)


def upsample_nearest(x: jax.Array, factor: int, axes: Sequence[int]) -> jax.Array:
  """F.interpolate(mode='nearest') by an integer factor: an exact repeat of each element."""
  for axis in axes:
    x = jnp.repeat(x, factor, axis=axis)
  return x


def resize_nearest_2d(x: jax.Array, size: tuple[int, int]) -> jax.Array:
  """F.interpolate(x, size, mode='nearest') on NHWC: source index floor(dst * in / out)."""
  _, h, w, _ = x.shape
  oh, ow = size
  if (oh, ow) == (h, w):
    return x
  if oh % h == 0 and ow % w == 0 and oh // h == ow // w:
    return upsample_nearest(x, oh // h, axes=(1, 2))
  rows = jnp.floor(jnp.arange(oh) * (h / oh)).astype(jnp.int32)
  cols = jnp.floor(jnp.arange(ow) * (w / ow)).astype(jnp.int32)
  return x[:, rows][:, :, cols]


def avg_pool(x: jax.Array, window: Sequence[int]) -> jax.Array:
  """AvgPool with kernel == stride and no padding (the only kind LivePortrait uses)."""
  return nn.avg_pool(x, tuple(window), strides=tuple(window), padding="VALID")


class SameBlock2d(nn.Module):
  """Conv 3x3 -> BatchNorm -> ReLU (or LeakyReLU(0.01) with `lrelu`)."""
  features: int
  lrelu: bool = False
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = conv(self.features, 3, padding=1, dtype=self.dtype, name="conv")(x)
    x = batch_norm(train, self.dtype, name="norm")(x)
    return nn.leaky_relu(x, 0.01) if self.lrelu else nn.relu(x)


class DownBlock2d(nn.Module):
  """Conv 3x3 -> BatchNorm -> ReLU -> AvgPool 2x2."""
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = conv(self.features, 3, padding=1, dtype=self.dtype, name="conv")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="norm")(x))
    return avg_pool(x, (2, 2))


class DownBlock3d(nn.Module):
  """Conv3d 3x3x3 -> BatchNorm3d -> ReLU -> AvgPool (1,2,2): depth is never pooled."""
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = conv(self.features, 3, ndim=3, padding=1, dtype=self.dtype, name="conv")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="norm")(x))
    return avg_pool(x, (1, 2, 2))


class UpBlock3d(nn.Module):
  """Nearest x2 on H and W -> Conv3d 3x3x3 -> BatchNorm3d -> ReLU."""
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    phase_min_hw = kernels.forms_of(self).upblock3d_phase_min_hw  # CPU: 64
    if phase_min_hw is not None and x.shape[2] * x.shape[3] >= phase_min_hw:
      # 2.25x fewer multiply-adds (upsample_conv.py). Below 8x8 the phase outputs' one-pixel
      # border ((H+1)(W+1) vs HW) eats the saving: 2x2 -> 4x4 at 1024 -> 512 ran 12x slower.
      x = UpsampleConv3d(self.features, self.dtype, name="conv")(x)
    else:
      x = upsample_nearest(x, 2, axes=(2, 3))  # [B, D, 2H, 2W, C]
      x = conv(self.features, 3, ndim=3, padding=1, dtype=self.dtype, name="conv")(x)
    return nn.relu(batch_norm(train, self.dtype, name="norm")(x))


class ResBlock3d(nn.Module):
  """Pre-activation residual block: (BN -> ReLU -> Conv3d) x 2, plus the input."""
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    out = nn.relu(batch_norm(train, self.dtype, name="norm1")(x))
    out = conv(self.features, 3, ndim=3, padding=1, dtype=self.dtype, name="conv1")(out)
    out = nn.relu(batch_norm(train, self.dtype, name="norm2")(out))
    out = conv(self.features, 3, ndim=3, padding=1, dtype=self.dtype, name="conv2")(out)
    return out + x


class Encoder(nn.Module):
  """Hourglass encoder: `num_blocks` DownBlock3d; returns [input, out_0, ..., out_{n-1}]."""
  block_expansion: int
  in_features: int
  num_blocks: int = 3
  max_features: int = 256
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    outs = [x]
    for i in range(self.num_blocks):
      feats = min(self.max_features, self.block_expansion * (2 ** (i + 1)))
      outs.append(DownBlock3d(feats, self.dtype, name=f"down_blocks.{i}")(outs[-1], train))
    return outs


class Decoder(nn.Module):
  """Hourglass decoder: up blocks with [upsampled, skip] concatenation, then conv-BN-ReLU."""
  block_expansion: int
  in_features: int
  num_blocks: int = 3
  max_features: int = 256
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, skips, train: bool = False):
    skips = list(skips)
    out = skips.pop()
    for j, i in enumerate(reversed(range(self.num_blocks))):
      feats = min(self.max_features, self.block_expansion * (2 ** i))
      out = UpBlock3d(feats, self.dtype, name=f"up_blocks.{j}")(out, train)
      out = jnp.concatenate([out, skips.pop()], axis=-1)
    out_filters = self.block_expansion + self.in_features
    out = conv(out_filters, 3, ndim=3, padding=1, dtype=self.dtype, name="conv")(out)
    return nn.relu(batch_norm(train, self.dtype, name="norm")(out))


class Hourglass(nn.Module):
  """Encoder-decoder with skip connections over NDHWC volumes."""
  block_expansion: int
  in_features: int
  num_blocks: int = 3
  max_features: int = 256
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    kw = dict(block_expansion=self.block_expansion, in_features=self.in_features,
              num_blocks=self.num_blocks, max_features=self.max_features, dtype=self.dtype)
    return Decoder(**kw, name="decoder")(Encoder(**kw, name="encoder")(x, train), train)


class LayerNorm(nn.Module):
  """ConvNeXt LayerNorm over the channel axis, eps 1e-6, two-pass (biased) variance.

  The official channels_first and channels_last variants are the same normalisation over C; in
  NHWC both are a LayerNorm over the last axis.
  """
  epsilon: float = 1e-6
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (c,))
    bias = self.param("bias", nn.initializers.zeros, (c,))
    x32 = x.astype(jnp.float32)  # statistics in float32 even under bf16 compute
    mean = jnp.mean(x32, axis=-1, keepdims=True)
    centered = x32 - mean
    var = jnp.mean(jnp.square(centered), axis=-1, keepdims=True)
    y = centered * jax.lax.rsqrt(var + self.epsilon) * scale + bias
    return y.astype(self.dtype)

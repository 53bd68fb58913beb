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

from lp_jax.models import conv_forms, kernels, remat
from lp_jax.models.conv_forms import torch_kernel_init
from lp_jax.models.kernels import KernelForms
# F.interpolate(mode='nearest') of the official util, for the networks built on these blocks.
from lp_jax.models.upsample_conv import resize_nearest_2d, upsample_nearest

Dtype = Any


def conv(features: int, kernel_size: int | Sequence[int], *, ndim: int = 2, padding: int = 0,
         stride: int = 1, groups: int = 1, use_bias: bool = True,
         upsample_to: tuple[int, int] | None = None, forms: KernelForms | None = None,
         dtype: Dtype = jnp.float32, name: str | None = None) -> nn.Module:
  """A PyTorch-style Conv2d/Conv3d (explicit symmetric zero padding, cross-correlation) with
  nn.Conv's variables, computed in the form `forms` picks for it (None: the running backend's).

  `upsample_to` (H, W): the conv reads F.interpolate(x, size=upsample_to, mode='nearest').
  The convs that have rewritten forms (stride-1 Conv3d and 3x3 Conv2d, with or without the
  upsample; depthwise; one output channel) are the layers below, which pick the algorithm for
  their shapes (models/conv_forms.py, every form exact up to float rounding); the rest are
  nn.Conv.
  """
  forms = kernels.default() if forms is None else forms
  kernel_size = (kernel_size,) * ndim if isinstance(kernel_size, int) else tuple(kernel_size)
  k, nd = kernel_size[0], len(kernel_size)
  cube = kernel_size == (k,) * nd
  if cube and stride == 1 and groups == 1 and (nd == 3 or (k, padding) == (3, 1)):
    return Conv(features, k, nd, padding, use_bias, upsample_to, dtype, forms, name=name)
  if upsample_to is not None:
    raise ValueError("upsample_to needs a stride-1 Conv3d or 3x3 Conv2d with padding 1")
  if (cube and nd == 2 and stride == 1 and 1 < groups == features and padding == k // 2 and
      use_bias):
    return DepthwiseConv2d(features, k, dtype, forms, name=name)
  # One output channel: the occlusion head. A 1x1 conv has one tap, so it is already one GEMM.
  if (forms.occlusion_taps and cube and nd == 2 and features == 1 and k > 1 and stride == 1 and
      groups == 1 and use_bias):
    return TapsConv2d(features, k, padding, dtype, name=name)
  return nn.Conv(features, tuple(kernel_size), strides=(stride,) * nd,
                 padding=[(padding, padding)] * nd, feature_group_count=groups,
                 use_bias=use_bias, dtype=dtype, kernel_init=torch_kernel_init, name=name)


class Conv(nn.Module):
  """A stride-1 Conv3d, or 3x3 Conv2d with padding 1, in the form `forms` picks for its
  shapes (conv_forms.conv); optionally after a nearest resize of H and W to `upsample_to`."""
  features: int
  kernel_size: int
  ndim: int = 2
  padding: int = 0
  use_bias: bool = True
  upsample_to: tuple[int, int] | None = None
  dtype: Dtype = jnp.float32
  forms: KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x):
    shape = (self.kernel_size,) * self.ndim + (x.shape[-1], self.features)
    kernel = self.param("kernel", torch_kernel_init, shape)
    y = conv_forms.conv(self.forms, x, kernel, self.padding, self.dtype, self.upsample_to)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y


class DepthwiseConv2d(nn.Module):
  """Depthwise k x k Conv2d (groups = channels, stride 1, 'same' padding) in the form `forms`
  picks (conv_forms.depthwise_conv2d); nn.Conv(feature_group_count=C)'s variables."""
  features: int
  kernel_size: int = 7
  dtype: Dtype = jnp.float32
  forms: KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x):
    k, c = self.kernel_size, self.features
    if x.shape[-1] != c:
      raise ValueError(f"a depthwise conv of {c} channels got {x.shape[-1]}")
    kernel = self.param("kernel", torch_kernel_init, (k, k, 1, c)).astype(self.dtype)
    bias = self.param("bias", nn.initializers.zeros, (c,)).astype(self.dtype)
    return conv_forms.depthwise_conv2d(self.forms, x.astype(self.dtype), kernel) + bias


class TapsConv2d(nn.Module):
  """Conv2d (stride 1) with very few outputs as one GEMM + shifted sums
  (conv_forms.taps_conv2d); nn.Conv's variables (kernel [k, k, I, O], bias [O])."""
  features: int
  kernel_size: int
  padding: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    kernel = self.param("kernel", torch_kernel_init, (k, k, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    y = conv_forms.taps_conv2d(x, kernel, self.padding, self.dtype)
    return y + bias.astype(self.dtype)


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


def avg_pool(x: jax.Array, window: Sequence[int]) -> jax.Array:
  """AvgPool with kernel == stride and no padding (the only kind LivePortrait uses)."""
  return nn.avg_pool(x, tuple(window), strides=tuple(window), padding="VALID")


class SameBlock2d(nn.Module):
  """Conv 3x3 -> BatchNorm -> ReLU (or LeakyReLU(0.01) with `lrelu`)."""
  features: int
  lrelu: bool = False
  dtype: Dtype = jnp.float32
  forms: KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = conv(self.features, 3, padding=1, forms=self.forms, dtype=self.dtype, name="conv")(x)
    x = batch_norm(train, self.dtype, name="norm")(x)
    return nn.leaky_relu(x, 0.01) if self.lrelu else nn.relu(x)


class DownBlock2d(nn.Module):
  """Conv 3x3 -> BatchNorm -> ReLU -> AvgPool 2x2."""
  features: int
  dtype: Dtype = jnp.float32
  forms: KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = conv(self.features, 3, padding=1, forms=self.forms, dtype=self.dtype, name="conv")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="norm")(x))
    return avg_pool(x, (2, 2))


class DownBlock3d(nn.Module):
  """Conv3d 3x3x3 -> BatchNorm3d -> ReLU -> AvgPool (1,2,2): depth is never pooled."""
  features: int
  dtype: Dtype = jnp.float32
  forms: KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = conv(self.features, 3, ndim=3, padding=1, forms=self.forms, dtype=self.dtype,
             name="conv")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="norm")(x))
    return avg_pool(x, (1, 2, 2))


class UpBlock3d(nn.Module):
  """Nearest x2 on H and W -> Conv3d 3x3x3 -> BatchNorm3d -> ReLU."""
  features: int
  dtype: Dtype = jnp.float32
  forms: KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x, train: bool = False):
    _, _, h, w, _ = x.shape  # F.interpolate(x, scale_factor=(1, 2, 2)) inside the conv
    x = conv(self.features, 3, ndim=3, padding=1, upsample_to=(2 * h, 2 * w), forms=self.forms,
             dtype=self.dtype, name="conv")(x)
    return nn.relu(batch_norm(train, self.dtype, name="norm")(x))


class ResBlock3d(nn.Module):
  """Pre-activation residual block: (BN -> ReLU -> Conv3d) x 2, plus the input."""
  features: int
  dtype: Dtype = jnp.float32
  forms: KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x, train: bool = False):
    out = nn.relu(batch_norm(train, self.dtype, name="norm1")(x))
    out = conv(self.features, 3, ndim=3, padding=1, forms=self.forms, dtype=self.dtype,
               name="conv1")(out)
    out = nn.relu(batch_norm(train, self.dtype, name="norm2")(out))
    out = conv(self.features, 3, ndim=3, padding=1, forms=self.forms, dtype=self.dtype,
               name="conv2")(out)
    return out + x


class Encoder(nn.Module):
  """Hourglass encoder: `num_blocks` DownBlock3d; returns [input, out_0, ..., out_{n-1}]."""
  block_expansion: int
  in_features: int
  num_blocks: int = 3
  max_features: int = 256
  dtype: Dtype = jnp.float32
  forms: KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x, train: bool = False):
    outs = [x]
    for i in range(self.num_blocks):
      feats = min(self.max_features, self.block_expansion * (2 ** (i + 1)))
      block = remat.block(DownBlock3d, self.forms, 2)(feats, self.dtype, self.forms,
                                                      name=f"down_blocks.{i}")
      outs.append(block(outs[-1], train))
    return outs


class Decoder(nn.Module):
  """Hourglass decoder: up blocks with [upsampled, skip] concatenation, then conv-BN-ReLU."""
  block_expansion: int
  in_features: int
  num_blocks: int = 3
  max_features: int = 256
  dtype: Dtype = jnp.float32
  forms: KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, skips, train: bool = False):
    skips = list(skips)
    out = skips.pop()
    for j, i in enumerate(reversed(range(self.num_blocks))):
      feats = min(self.max_features, self.block_expansion * (2 ** i))
      up = remat.block(UpBlock3d, self.forms, 2)
      out = up(feats, self.dtype, self.forms, name=f"up_blocks.{j}")(out, train)
      out = jnp.concatenate([out, skips.pop()], axis=-1)
    out_filters = self.block_expansion + self.in_features
    out = conv(out_filters, 3, ndim=3, padding=1, forms=self.forms, dtype=self.dtype,
               name="conv")(out)
    return nn.relu(batch_norm(train, self.dtype, name="norm")(out))


class Hourglass(nn.Module):
  """Encoder-decoder with skip connections over NDHWC volumes."""
  block_expansion: int
  in_features: int
  num_blocks: int = 3
  max_features: int = 256
  dtype: Dtype = jnp.float32
  forms: KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x, train: bool = False):
    kw = dict(block_expansion=self.block_expansion, in_features=self.in_features,
              num_blocks=self.num_blocks, max_features=self.max_features, dtype=self.dtype,
              forms=self.forms)
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

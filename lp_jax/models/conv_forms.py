# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Which algorithm a convolution takes: the form the backend runs fastest, same variables.

Every form equals the direct convolution up to float rounding; which one a conv takes is a
property of the backend (the `KernelForms` its layer was built with, models/kernels.py) and of
the layer's shapes:
- 3x3 Conv2d (stride 1, padding 1): direct, or Winograd F(4x4, 3x3) (models/winograd.py: 4x
  fewer multiply-adds) for maps up to `winograd_max_hw` pixels with at least
  WINOGRAD_MIN_CHANNELS channels in and out.
- Conv3d 3x3x3 (padding 1): the same Winograd form over H and W from `winograd3d_min_hw`
  pixels per slice; else, like every other Conv3d, depth-folded (one 2-D conv with the depth
  taps as outputs) from `conv3d_fold_min_hw` pixels (up to `conv3d_fold_max_out` output
  channels), else direct.
- Conv3d with kernel >= `fft_conv3d_min_kernel` (the 7x7x7 mask): FFTs over H and W
  (models/fft_conv.py).
- A 3x3 conv after a nearest 2x upsample (SPADE's shared conv, UpBlock3d): four phase convs
  on the low-resolution input (models/upsample_conv.py) where `upsample2d_phase` /
  `upblock3d_phase_min_hw` say, the 3-D ones depth-folded from `phase3d_fold_min_hw`.
- Depthwise 7x7 (ConvNeXt): shifted multiply-adds where `depthwise_stencil`, else grouped.
- One output channel (the occlusion head): one GEMM + shifted sums where `occlusion_taps`.
The Winograd and FFT forms run in float32 only: their transforms need its range and precision.
The layers that hold the variables and call these functions are in models/util.py: every
network builds its convs with `util.conv(..., forms=...)`.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from lp_jax.models import fft_conv, upsample_conv, winograd
from lp_jax.models.kernels import KernelForms

# PyTorch's default init (kaiming_uniform with a=sqrt(5)) is uniform(+-1/sqrt(fan_in)), i.e. a
# variance scaling of 1/3; used so that from-scratch training starts where PyTorch would.
torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")

# Narrower layers spend more on the transforms than the GEMM saves (XLA:CPU, 16x64x64:
# 32 -> 32 channels 37 ms direct vs 59 ms Winograd; 110 -> 64: 203 vs 175 ms).
WINOGRAD_MIN_CHANNELS = 64


def _winograd_channels(kernel: jax.Array) -> bool:
  return min(kernel.shape[-2:]) >= WINOGRAD_MIN_CHANNELS


def uses_winograd(forms: KernelForms, x: jax.Array, kernel: jax.Array) -> bool:
  """Whether a 3x3 Conv2d on x [N, H, W, C] takes the Winograd form."""
  max_hw = forms.winograd_max_hw
  return (max_hw is not None and x.dtype == jnp.float32 and x.shape[1] * x.shape[2] <= max_hw
          and _winograd_channels(kernel))


def conv2d_3x3(forms: KernelForms, x: jax.Array, kernel: jax.Array) -> jax.Array:
  """conv(x, kernel), stride 1, zero padding 1, NHWC / HWIO, in the form `forms` picks."""
  if uses_winograd(forms, x, kernel):
    return winograd.conv3x3(x, kernel)
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), [(1, 1), (1, 1)],
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def conv3d_form(forms: KernelForms, x: jax.Array, kernel: jax.Array, padding: int) -> str:
  """'winograd', 'fft', 'folded' or 'direct': the form of a Conv3d on x [N, D, H, W, C]."""
  k = kernel.shape[0]
  hw, f32 = x.shape[2] * x.shape[3], x.dtype == jnp.float32
  if (forms.winograd3d_min_hw is not None and f32 and kernel.shape[:3] == (3, 3, 3) and
      padding == 1 and hw >= forms.winograd3d_min_hw and _winograd_channels(kernel)):
    return "winograd"
  if (forms.fft_conv3d_min_kernel is not None and f32 and k >= forms.fft_conv3d_min_kernel and
      kernel.shape[:3] == (k, k, k) and padding == k // 2):
    return "fft"
  max_out = forms.conv3d_fold_max_out
  if (forms.conv3d_fold_min_hw is not None and k > 1 and hw >= forms.conv3d_fold_min_hw and
      (max_out is None or kernel.shape[-1] <= max_out)):
    return "folded"
  return "direct"


def conv3d(forms: KernelForms, x: jax.Array, kernel: jax.Array, padding: int) -> jax.Array:
  """Conv3d (stride 1, symmetric `padding`, NDHWC / DHWIO) in the form `forms` picks."""
  form = conv3d_form(forms, x, kernel, padding)
  if form == "winograd":
    return winograd.conv3d_3x3x3(x, kernel)
  if form == "fft":
    return fft_conv.conv3d(x, kernel)
  if form == "folded":
    return conv3d_depth_folded(x, kernel, padding, padding, forms.conv3d_fold_pad)
  return conv3d_folded_or_direct(x, kernel, padding, padding, None)


def conv(forms: KernelForms, x: jax.Array, kernel: jax.Array, padding: int, dtype,
         upsample_to: tuple[int, int] | None = None) -> jax.Array:
  """A stride-1 conv in `dtype`: 3x3 with padding 1 on NHWC, or any cubic kernel on NDHWC.

  With `upsample_to` (H, W) the conv reads F.interpolate(x, size=upsample_to, mode='nearest').
  Where `forms` says, the last nearest 2x is folded into the conv (upsample_conv.py: 2.25x fewer
  multiply-adds) instead of being materialised. The casts to `dtype` sit where each form has
  always had them, so the programs are the ones the forms were measured with.
  """
  if upsample_to is not None:
    h, w = x.shape[-3:-1]
    doublings = upsample_conv.upsample_doublings((h, w), upsample_to)
    if x.ndim == 4 and doublings and forms.upsample2d_phase:
      x = upsample_conv.upsample_nearest(x.astype(dtype), 2 ** (doublings - 1), axes=(1, 2))
      return upsample_conv.upsample2x_conv3x3(x, kernel.astype(dtype))
    min_hw = forms.upblock3d_phase_min_hw
    # Below 8x8 inputs the phase outputs' one-pixel border ((H+1)(W+1) vs HW) eats the saving:
    # 2x2 -> 4x4 at 1024 -> 512 channels ran 12x slower (XLA:CPU).
    if x.ndim == 5 and doublings == 1 and min_hw is not None and h * w >= min_hw:
      # Depth-folded from 8x8 inputs up (XLA:CPU, AVX-512: 1.1x at 8x8, 2.4x at 32x32 over the
      # direct 3-D conv of the phase kernels), i.e. the fold threshold of the output.
      y = conv3d_folded_or_direct(x.astype(dtype),
                                  upsample_conv.phase_kernel_3d(kernel.astype(dtype)), 1, 1,
                                  forms.phase3d_fold_min_hw, forms.conv3d_fold_pad)
      return upsample_conv.interleave_phases(y, h, w)
    x = upsample_conv.resize_nearest_2d(x, upsample_to)
  x, kernel = x.astype(dtype), kernel.astype(dtype)
  if x.ndim == 4:
    if kernel.shape[:2] != (3, 3) or padding != 1:
      raise ValueError("conv_forms.conv: a 2-D conv here is 3x3 with padding 1")
    return conv2d_3x3(forms, x, kernel)
  return conv3d(forms, x, kernel, padding)


def depthwise_conv2d(forms: KernelForms, x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Depthwise k x k conv (stride 1, 'same' zero padding, kernel [k, k, 1, C]) on NHWC.

  With `depthwise_stencil`: k*k shifted multiply-adds. XLA:CPU's grouped convolution runs
  ConvNeXt's 7x7 depthwise convs ~14x slower than this channels-last stencil, which
  vectorises over C. Otherwise the grouped convolution.
  """
  k, (_, h, w, c) = kernel.shape[0], x.shape
  p = k // 2
  if not forms.depthwise_stencil:
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), [(p, p)] * 2, feature_group_count=c,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
  xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  return sum(xp[:, i:i + h, j:j + w, :] * kernel[i, j, 0] for i in range(k) for j in range(k))


def taps_conv2d(x: jax.Array, kernel: jax.Array, padding: int, dtype) -> jax.Array:
  """Conv2d (stride 1) with very few outputs as one GEMM + shifted sums, in `dtype`.

  A direct conv with one output channel (the occlusion head: 2272 -> 1, 7x7) is a GEMM with
  N = 1, which XLA:CPU runs ~8x slower than one dot to the k*k*O per-tap outputs followed by
  k*k shifted adds.
  """
  k, p = kernel.shape[0], padding
  b, h, w, c = x.shape
  o = kernel.shape[-1]
  taps = kernel.transpose(2, 0, 1, 3).reshape(c, k * k * o).astype(dtype)
  y = jnp.dot(x.astype(dtype).reshape(-1, c), taps).reshape(b, h, w, k, k, o)
  y = jnp.pad(y, ((0, 0), (p, p), (p, p), (0, 0), (0, 0), (0, 0)))
  h_out, w_out = h + 2 * p - k + 1, w + 2 * p - k + 1
  return sum(y[:, i:i + h_out, j:j + w_out, :, :, :][:, :, :, i, j] for i in range(k)
             for j in range(k))


def conv3d_depth_folded(x: jax.Array, kernel: jax.Array, padding: int,
                        hw_padding: int | None = None, pad_channels: bool = True) -> jax.Array:
  """Conv3d (stride 1, symmetric padding) as one 2-D conv whose outputs stack the depth taps.

  y[d, kd] = conv2d(x[d], kernel[kd]) for every depth slice, then out[t] = sum_kd y[t+kd-p, kd].
  Same FLOPs as the direct 3-D conv, but the GEMM is kd times wider, which is what XLA's CPU
  convolution needs for large, narrow volumes (7x7x7 142->22 mask: 7x faster; 3x3x3 at 64x64:
  2 to 4x).
  """
  b, d, h, w, c = x.shape
  kd, kh, kw, i, o = kernel.shape
  hw_padding = padding if hw_padding is None else hw_padding
  k2 = kernel.transpose(1, 2, 3, 0, 4).reshape(kh, kw, i, kd * o)  # out channel = tap * O + o
  # Zero channels up to multiples of 8 (in) and 16 (out): XLA:CPU's GEMM packs in those widths
  # and runs e.g. 142 -> 426 channels ~25% slower than 144 -> 432. The extra FLOPs are ~1-4%.
  c_pad, n_pad = (-c % 8, -(kd * o) % 16) if pad_channels else (0, 0)
  if c_pad:
    x = jnp.pad(x, ((0, 0),) * 4 + ((0, c_pad),))
  k2 = jnp.pad(k2, ((0, 0), (0, 0), (0, c_pad), (0, n_pad)))
  y = jax.lax.conv_general_dilated(x.reshape(b * d, h, w, c + c_pad), k2.astype(x.dtype), (1, 1),
                                   [(hw_padding, hw_padding)] * 2,
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  y = y[..., :kd * o].reshape(b, d, y.shape[1], y.shape[2], kd, o)
  if d + 2 * padding - kd + 1 != d:
    raise ValueError("conv3d_depth_folded keeps the depth: needs padding == kernel_size // 2")
  # Each tap shifted along depth with zeros entering at the border; ~5x cheaper on XLA:CPU
  # than padding the whole stack and slicing it.
  out = y[:, :, :, :, padding]
  for k in range(kd):
    shift = k - padding
    if shift == 0:
      continue
    tap = y[:, :, :, :, k]
    zeros = jnp.zeros_like(tap[:, :abs(shift)])
    out = out + (jnp.concatenate([tap[:, shift:], zeros], axis=1) if shift > 0 else
                 jnp.concatenate([zeros, tap[:, :shift]], axis=1))
  return out


def conv3d_folded_or_direct(x: jax.Array, kernel: jax.Array, depth_padding: int,
                           hw_padding: int, fold_min_hw: int | None = 256,
                           pad_channels: bool = True) -> jax.Array:
  """Conv3d (stride 1): depth-folded from `fold_min_hw` (None: never), else direct."""
  if fold_min_hw is not None and kernel.shape[0] > 1 and x.shape[2] * x.shape[3] >= fold_min_hw:
    return conv3d_depth_folded(x, kernel, depth_padding, hw_padding, pad_channels)
  return jax.lax.conv_general_dilated(x, kernel, (1, 1, 1),
                                      [(depth_padding,) * 2] + [(hw_padding,) * 2] * 2,
                                      dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))

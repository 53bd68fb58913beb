# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""SPADE generator G (official `SPADEDecoder`): warped features -> 512x512 RGB image."""

import functools

from flax import traverse_util
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lp_jax.models import conv_forms, kernels, remat, util


def _l2_normalize(x, eps: float = 1e-12):
  return x / jnp.maximum(jnp.linalg.norm(x), eps)


def spectral_sigma(kernel, u, v):
  """sigma = u . (W v) with W the PyTorch (O, I*kh*kw) view of an HWIO kernel."""
  w_mat = kernel.transpose(3, 2, 0, 1).reshape(kernel.shape[-1], -1)
  return jnp.dot(u, w_mat @ v, precision=jax.lax.Precision.HIGHEST)


class SpectralNormConv(nn.Module):
  """Conv2d under `torch.nn.utils.spectral_norm` (one power iteration per training call).

  `kernel` holds `weight_orig`; the `spectral` collection holds the power-iteration vectors u, v.
  In eval mode the weight is weight_orig / (u . W v) with the stored u, v, as in PyTorch. With
  `folded=True` the kernel is already divided (see `fold_spectral_norm`) and no u, v exist: the
  inference path then pays nothing per frame for spectral norm.
  """
  features: int
  kernel_size: int
  padding: int
  use_bias: bool = True
  folded: bool = False
  dtype: util.Dtype = jnp.float32
  forms: kernels.KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x, train: bool = False):
    k = self.kernel_size
    in_features = x.shape[-1]
    kernel = self.param("kernel", util.torch_kernel_init, (k, k, in_features, self.features))
    if not self.folded:
      fan = in_features * k * k
      init_vec = lambda n: lambda: _l2_normalize(
          jax.random.normal(self.make_rng("params"), (n,), jnp.float32))
      u = self.variable("spectral", "u", init_vec(self.features))
      v = self.variable("spectral", "v", init_vec(fan))
      w_mat = kernel.transpose(3, 2, 0, 1).reshape(self.features, -1)
      if train and not self.is_initializing():
        w_sg = jax.lax.stop_gradient(w_mat)
        v.value = _l2_normalize(w_sg.T @ u.value)
        u.value = _l2_normalize(w_sg @ v.value)
      sigma = spectral_sigma(kernel, jax.lax.stop_gradient(u.value),
                             jax.lax.stop_gradient(v.value))
      kernel = kernel / sigma
    if (k, self.padding) == (3, 1):
      y = conv_forms.conv2d_3x3(self.forms, x.astype(self.dtype), kernel.astype(self.dtype))
    else:
      y = jax.lax.conv_general_dilated(
          x.astype(self.dtype), kernel.astype(self.dtype), (1, 1), [(self.padding,) * 2] * 2,
          dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y


def fold_spectral_norm(variables: dict) -> dict:
  """Returns variables with every spectral-normed kernel divided by its sigma, and no u, v.

  Computed once, in float64 on the host, so the per-frame generator is a plain conv net.
  """
  if not variables.get("spectral"):
    return variables
  flat_params = traverse_util.flatten_dict(variables["params"])
  flat_spectral = traverse_util.flatten_dict(variables["spectral"])
  for path in sorted({key[:-1] for key in flat_spectral}):
    kernel = np.asarray(flat_params[path + ("kernel",)], np.float64)
    u = np.asarray(flat_spectral[path + ("u",)], np.float64)
    v = np.asarray(flat_spectral[path + ("v",)], np.float64)
    sigma = u @ (kernel.transpose(3, 2, 0, 1).reshape(kernel.shape[-1], -1) @ v)
    flat_params[path + ("kernel",)] = (kernel / sigma).astype(np.float32)
  folded = {k: v for k, v in variables.items() if k != "spectral"}
  folded["params"] = traverse_util.unflatten_dict(flat_params)
  return folded


class SPADE(nn.Module):
  """normalized(x) * (1 + gamma(seg)) + beta(seg), affine-free InstanceNorm, eps 1e-5."""
  norm_nc: int
  hidden: int = 128
  dtype: util.Dtype = jnp.float32
  forms: kernels.KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x, segmap):
    conv = functools.partial(util.conv, padding=1, forms=self.forms, dtype=self.dtype)
    normalized = util.instance_norm(x.astype(jnp.float32)).astype(self.dtype)
    # F.interpolate(segmap, size=x.size()[2:], mode='nearest') inside the shared conv.
    actv = nn.relu(conv(self.hidden, 3, upsample_to=x.shape[1:3], name="mlp_shared.0")(segmap))
    gamma = conv(self.norm_nc, 3, name="mlp_gamma")(actv)
    beta = conv(self.norm_nc, 3, name="mlp_beta")(actv)
    return normalized * (1 + gamma) + beta


class SPADEResnetBlock(nn.Module):
  """SPADE residual block; learned 1x1 shortcut (no bias, no activation) when fin != fout."""
  fin: int
  fout: int
  spectral_norm_folded: bool = False
  dtype: util.Dtype = jnp.float32
  spade_hidden: int = 128  # SPADE's shared MLP width (official: 128)
  forms: kernels.KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, x, seg, train: bool = False):
    fmiddle = min(self.fin, self.fout)
    sn = lambda feats, k, pad, bias, name: SpectralNormConv(
        feats, k, pad, bias, self.spectral_norm_folded, self.dtype, self.forms, name=name)
    spade = lambda nc, name: SPADE(nc, self.spade_hidden, self.dtype, self.forms, name=name)
    if self.fin != self.fout:
      x_s = spade(self.fin, "norm_s")(x, seg)
      x_s = sn(self.fout, 1, 0, False, "conv_s")(x_s, train)
    else:
      x_s = x
    dx = nn.leaky_relu(spade(self.fin, "norm_0")(x, seg), 0.2)
    dx = sn(fmiddle, 3, 1, True, "conv_0")(dx, train)
    dx = nn.leaky_relu(spade(fmiddle, "norm_1")(dx, seg), 0.2)
    dx = sn(self.fout, 3, 1, True, "conv_1")(dx, train)
    return x_s + dx


def pixel_shuffle(x, r: int = 2):
  """PixelShuffle on NHWC with PyTorch's channel order c * r^2 + i * r + j."""
  b, h, w, c = x.shape
  oc = c // (r * r)
  x = x.reshape(b, h, w, oc, r, r).transpose(0, 1, 4, 2, 5, 3)
  return x.reshape(b, h * r, w * r, oc)


class SPADEDecoder(nn.Module):
  """feature [B, 64, 64, 256] (also the SPADE segmentation map) -> image [B, 512, 512, 3]."""
  upscale: int = 2
  max_features: int = 512
  block_expansion: int = 64
  out_channels: int = 64
  num_down_blocks: int = 2
  spectral_norm_folded: bool = False
  dtype: util.Dtype = jnp.float32
  # Width of every SPADE block's shared MLP. The official 128 is fixed in its code; narrow
  # configs shrink it, because at 256x256 it dominates a small generator's cost.
  spade_hidden: int = 128
  forms: kernels.KernelForms = kernels.forms_field()  # liveportrait.build sets the platform's

  @nn.compact
  def __call__(self, feature, train: bool = False):
    input_channels = min(self.max_features, self.block_expansion * (2 ** self.num_down_blocks))
    resblock = remat.block(SPADEResnetBlock, self.forms, 3)
    block = lambda fin, fout, name: resblock(fin, fout, self.spectral_norm_folded, self.dtype,
                                             self.spade_hidden, self.forms, name=name)
    conv = functools.partial(util.conv, padding=1, forms=self.forms, dtype=self.dtype)
    seg = feature.astype(self.dtype)
    x = conv(2 * input_channels, 3, name="fc")(seg)
    for i in range(6):
      x = block(2 * input_channels, 2 * input_channels, f"G_middle_{i}")(x, seg, train)
    x = util.upsample_nearest(x, 2, axes=(1, 2))
    x = block(2 * input_channels, input_channels, "up_0")(x, seg, train)
    x = util.upsample_nearest(x, 2, axes=(1, 2))
    x = block(input_channels, self.out_channels, "up_1")(x, seg, train)
    x = nn.leaky_relu(x, 0.2)
    if self.upscale is None or self.upscale <= 1:
      x = conv(3, 3, name="conv_img")(x)
    else:
      x = conv(3 * self.upscale ** 2, 3, name="conv_img.0")(x)
      x = pixel_shuffle(x, self.upscale)
    return jax.nn.sigmoid(x.astype(jnp.float32))

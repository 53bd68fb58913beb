# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""ONNX matrix products, convolutions, batch normalisation and pooling."""

import math

import jax.numpy as jnp
import numpy as np
from jax import lax

from lp_jax.onnx_jax.registry import HIGHEST, register


# -- linear algebra and convolution ------------------------------------------------------------

@register("MatMul")
def matmul(node, inputs):
  a, b = inputs
  return [jnp.matmul(a, b, precision=HIGHEST)]


@register("Gemm")
def gemm(node, inputs):
  a, b = inputs[:2]
  c = inputs[2] if len(inputs) > 2 else None
  if node.attrs.get("transA", 0):
    a = a.T
  if node.attrs.get("transB", 0):
    b = b.T
  y = jnp.matmul(a, b, precision=HIGHEST)
  alpha, beta = node.attrs.get("alpha", 1.0), node.attrs.get("beta", 1.0)
  if alpha != 1.0:
    y = y * jnp.asarray(alpha, y.dtype)
  if c is not None:
    y = y + (c if beta == 1.0 else c * jnp.asarray(beta, y.dtype))
  return [y]


def _spatial_padding(node, in_sizes, kernel, strides, dilations) -> list:
  """[(begin, end)] per spatial axis from `pads` or `auto_pad` (convolutions and pools)."""
  auto_pad = node.attrs.get("auto_pad", "NOTSET")
  n = len(in_sizes)
  if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
    pads = []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilations):
      total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
      small, large = total // 2, total - total // 2
      pads.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
    return pads
  if auto_pad == "VALID":
    return [(0, 0)] * n
  pads = node.attrs.get("pads", [0] * (2 * n))
  return [(int(pads[i]), int(pads[i + n])) for i in range(n)]


def _conv_dims(rank: int):
  spatial = "DHW"[3 - (rank - 2):]
  return ("NC" + spatial, "OI" + spatial, "NC" + spatial)


@register("Conv")
def conv(node, inputs):
  x, w = inputs[:2]
  b = inputs[2] if len(inputs) > 2 else None
  n = x.ndim - 2
  kernel = node.attrs.get("kernel_shape", list(w.shape[2:]))
  strides = node.attrs.get("strides", [1] * n)
  dilations = node.attrs.get("dilations", [1] * n)
  padding = _spatial_padding(node, x.shape[2:], kernel, strides, dilations)
  y = lax.conv_general_dilated(
      x, jnp.asarray(w, x.dtype), window_strides=strides, padding=padding,
      rhs_dilation=dilations, dimension_numbers=_conv_dims(x.ndim),
      feature_group_count=node.attrs.get("group", 1), precision=HIGHEST)
  if b is not None:
    y = y + jnp.reshape(b, (1, -1) + (1,) * n)
  return [y]


@register("ConvTranspose")
def conv_transpose(node, inputs):
  x, w = inputs[:2]
  b = inputs[2] if len(inputs) > 2 else None
  n = x.ndim - 2
  groups = node.attrs.get("group", 1)
  kernel = node.attrs.get("kernel_shape", list(w.shape[2:]))
  strides = node.attrs.get("strides", [1] * n)
  dilations = node.attrs.get("dilations", [1] * n)
  out_pad = node.attrs.get("output_padding", [0] * n)
  pads = node.attrs.get("pads")
  out_shape = node.attrs.get("output_shape")
  auto_pad = node.attrs.get("auto_pad", "NOTSET")
  begin_end = []
  for i in range(n):
    full = strides[i] * (x.shape[2 + i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1
    if out_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
      target = out_shape[-n + i] if out_shape is not None else x.shape[2 + i] * strides[i]
      total = full - target
      # The spec puts the odd pixel at the end for SAME_UPPER only; with output_shape under
      # NOTSET, as under SAME_LOWER, it goes at the beginning.
      if auto_pad == "SAME_UPPER":
        begin_end.append((total // 2, total - total // 2))
      else:
        begin_end.append((total - total // 2, total // 2))
    elif pads is not None:
      begin_end.append((int(pads[i]), int(pads[i + n])))
    else:
      begin_end.append((0, 0))
  # A transposed convolution is a convolution of the stride-dilated input with the flipped
  # kernel, its in / out channels swapped within each group.
  c_in = w.shape[0]
  w = jnp.asarray(w, x.dtype).reshape((groups, c_in // groups) + tuple(w.shape[1:]))
  w = jnp.swapaxes(w, 1, 2).reshape((groups * w.shape[2], c_in // groups) + tuple(w.shape[3:]))
  w = jnp.flip(w, axis=tuple(range(2, 2 + n)))
  padding = []
  for i in range(n):
    k = (kernel[i] - 1) * dilations[i]
    padding.append((k - begin_end[i][0], k - begin_end[i][1] + out_pad[i]))
  y = lax.conv_general_dilated(
      x, w, window_strides=[1] * n, padding=padding, lhs_dilation=strides,
      rhs_dilation=dilations, dimension_numbers=_conv_dims(x.ndim),
      feature_group_count=groups, precision=HIGHEST)
  if b is not None:
    y = y + jnp.reshape(b, (1, -1) + (1,) * n)
  return [y]


@register("BatchNormalization")
def batch_norm(node, inputs):
  x, scale, bias, mean_, var = inputs[:5]
  eps = node.attrs.get("epsilon", 1e-5)
  shape = (1, -1) + (1,) * (x.ndim - 2)
  r = lambda v: jnp.reshape(jnp.asarray(v, x.dtype), shape)
  inv = r(scale) / jnp.sqrt(r(var) + jnp.asarray(eps, x.dtype))
  return [(x - r(mean_)) * inv + r(bias)]


# -- pooling ------------------------------------------------------------------------------------

def _pool_geometry(node, x):
  n = x.ndim - 2
  kernel = list(node.attrs["kernel_shape"])
  strides = node.attrs.get("strides", [1] * n)
  dilations = node.attrs.get("dilations", [1] * n)
  padding = _spatial_padding(node, x.shape[2:], kernel, strides, dilations)
  extra = []
  for i in range(n):
    span = x.shape[2 + i] + sum(padding[i]) - ((kernel[i] - 1) * dilations[i] + 1)
    out = (math.ceil(span / strides[i]) if node.attrs.get("ceil_mode", 0)
           else span // strides[i]) + 1
    if node.attrs.get("ceil_mode", 0) and (out - 1) * strides[i] >= x.shape[2 + i] + padding[i][0]:
      out -= 1  # the last window must start inside the input or its begin padding
    extra.append(max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                     - (x.shape[2 + i] + sum(padding[i])), 0))
  return n, kernel, strides, dilations, padding, extra


@register("MaxPool")
def max_pool(node, inputs):
  (x,) = inputs
  n, kernel, strides, dilations, padding, extra = _pool_geometry(node, x)
  pad = [(0, 0), (0, 0)] + [(b, e + x_) for (b, e), x_ in zip(padding, extra)]
  y = lax.reduce_window(x, -jnp.inf, lax.max, (1, 1) + tuple(kernel), (1, 1) + tuple(strides),
                        pad, window_dilation=(1, 1) + tuple(dilations))
  return [y]


@register("AveragePool")
def average_pool(node, inputs):
  (x,) = inputs
  n, kernel, strides, dilations, padding, extra = _pool_geometry(node, x)
  win = ((1, 1) + tuple(kernel), (1, 1) + tuple(strides))
  pad = [(0, 0), (0, 0)] + [(b, e + x_) for (b, e), x_ in zip(padding, extra)]
  # A concrete init value (not a traced one) makes this reduce_window_sum, which has a VJP.
  total = lax.reduce_window(x, np.zeros((), x.dtype), lax.add, *win, pad,
                            window_dilation=(1, 1) + tuple(dilations))
  return [total / _window_counts(node, x, kernel, strides, dilations, padding, extra)]


def _window_counts(node, x, kernel, strides, dilations, padding, extra) -> np.ndarray:
  """AveragePool's divisor per output position, a NumPy constant (it depends on shapes only).

  Without count_include_pad it counts each window's input elements. With it, onnxruntime divides
  every window by the kernel's size, also one that ceil_mode lets hang past the padding (the ONNX
  reference evaluator would not count the overhang); parity is with onnxruntime. Counts are
  separable: per axis, then an outer product.
  """
  if node.attrs.get("count_include_pad", 0):
    return np.asarray(math.prod(kernel), x.dtype)
  counts = np.ones((1, 1), np.float64)
  for i, size in enumerate(x.shape[2:]):
    (begin, end), over = padding[i], extra[i]
    valid = np.concatenate([np.zeros(begin), np.ones(size), np.zeros(end + over)])
    span = (kernel[i] - 1) * dilations[i] + 1
    starts = np.arange(0, len(valid) - span + 1, strides[i])
    axis_counts = np.array([valid[s:s + span:dilations[i]].sum() for s in starts])
    counts = counts[..., None] * axis_counts
  return counts.reshape((1, 1) + counts.shape[2:]).astype(x.dtype)


@register("GlobalAveragePool")
def global_average_pool(node, inputs):
  (x,) = inputs
  return [jnp.mean(x, axis=tuple(range(2, x.ndim)), keepdims=True)]


@register("GlobalMaxPool")
def global_max_pool(node, inputs):
  (x,) = inputs
  return [jnp.max(x, axis=tuple(range(2, x.ndim)), keepdims=True)]

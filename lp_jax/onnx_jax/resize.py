# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""ONNX Resize and Upsample: separable nearest and N-linear resampling."""

import math

import jax.numpy as jnp
import numpy as np

from lp_jax.onnx_jax.registry import floats, ints, register


# -- resampling ----------------------------------------------------------------------------------

def _source_coords(out_size: int, in_size: int, scale: float, mode: str) -> np.ndarray:
  """Input coordinate of each output index along one axis (ONNX coordinate_transformation_mode)."""
  i = np.arange(out_size, dtype=np.float64)
  if mode == "asymmetric":
    return i / scale
  if mode == "align_corners":
    return i * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros_like(i)
  if mode == "pytorch_half_pixel":
    return (i + 0.5) / scale - 0.5 if out_size > 1 else np.zeros_like(i)
  if mode == "tf_half_pixel_for_nn":
    return (i + 0.5) / scale
  if mode == "half_pixel":
    return (i + 0.5) / scale - 0.5
  raise ValueError(f"coordinate_transformation_mode {mode!r}")


def _nearest(coords: np.ndarray, mode: str, scale: float = 1.0) -> np.ndarray:
  if mode == "legacy":
    # Resize before opset 11 and Upsample, as onnxruntime runs them: floor when enlarging, ceil
    # when shrinking.
    return np.ceil(coords) if scale < 1 else np.floor(coords)
  if mode == "floor":
    return np.floor(coords)
  if mode == "ceil":
    return np.ceil(coords)
  if mode == "round_prefer_ceil":
    return np.floor(coords + 0.5)
  return np.ceil(coords - 0.5)  # round_prefer_floor, the default


RESIZE_MODES = ("nearest", "linear")
COORDINATE_MODES = ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel",
                    "tf_half_pixel_for_nn")


def _resize(x, out_shape, scales, mode, coord_mode, nearest_mode):
  """Separable nearest / N-linear resampling, with indices and weights computed in NumPy."""
  for axis in range(x.ndim):
    in_size, out_size = x.shape[axis], int(out_shape[axis])
    if in_size == out_size and scales[axis] == 1.0:
      continue
    coords = _source_coords(out_size, in_size, scales[axis], coord_mode)
    if mode == "nearest":
      idx = np.clip(_nearest(coords, nearest_mode, scales[axis]), 0,
                    in_size - 1).astype(np.int32)
      x = jnp.take(x, idx, axis=axis)
      continue
    coords = np.clip(coords, 0, in_size - 1)
    lo = np.floor(coords).astype(np.int32)
    hi = np.minimum(lo + 1, in_size - 1)
    w = (coords - lo).astype(np.float32)
    wshape = [1] * x.ndim
    wshape[axis] = out_size
    w = jnp.asarray(w.reshape(wshape), x.dtype)
    x = jnp.take(x, lo, axis=axis) * (1 - w) + jnp.take(x, hi, axis=axis) * w
  return x


@register("Resize")
def resize(node, inputs):
  x = inputs[0]
  if node.opset < 11:
    scales, sizes = floats(inputs[1]), None
  else:
    scales = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    scales = floats(scales) if scales is not None and np.size(scales) else None
    sizes = inputs[3] if len(inputs) > 3 and inputs[3] is not None else None
    sizes = ints(sizes) if sizes is not None and np.size(sizes) else None
  if sizes is not None:
    out_shape = sizes
    scales = [o / i for o, i in zip(sizes, x.shape)]
  else:
    out_shape = [int(math.floor(d * s)) for d, s in zip(x.shape, scales)]
  if node.opset < 11:
    return [_resize(x, out_shape, scales, node.attrs.get("mode", "nearest"), "asymmetric",
                    "legacy")]
  return [_resize(x, out_shape, scales, node.attrs.get("mode", "nearest"),
                  node.attrs.get("coordinate_transformation_mode", "half_pixel"),
                  node.attrs.get("nearest_mode", "round_prefer_floor"))]


@register("Upsample")
def upsample(node, inputs):
  x = inputs[0]
  scales = node.attrs["scales"] if node.opset < 9 else floats(inputs[1])
  out_shape = [int(math.floor(d * s)) for d, s in zip(x.shape, scales)]
  # Upsample maps output i to input i / scale (asymmetric), like Resize before opset 11.
  return [_resize(x, out_shape, scales, node.attrs.get("mode", "nearest"), "asymmetric",
                  "legacy")]

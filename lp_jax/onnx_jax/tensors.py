# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""ONNX shape and tensor operators: Shape, Reshape, Concat, Slice, Gather, Pad and the like."""

import math

import numpy as np
from jax import lax

from lp_jax.onnx_jax.registry import array_module, axes_of, axis_index, ints, register


# -- shapes ---------------------------------------------------------------------------------------

@register("Shape")
def shape(node, inputs):
  (x,) = inputs
  dims = np.asarray(x.shape, np.int64)
  return [dims[node.attrs.get("start", 0):node.attrs.get("end", None)]]


@register("Size")
def size(node, inputs):
  return [np.asarray(math.prod(inputs[0].shape), np.int64)]


@register("Constant")
def constant(node, inputs):
  a = node.attrs
  for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                     ("value_int", np.int64), ("value_ints", np.int64)):
    if key in a:
      return [np.asarray(a[key], dtype)]
  return [np.asarray(a["value"])]


@register("ConstantOfShape")
def constant_of_shape(node, inputs):
  value = node.attrs.get("value", np.zeros(1, np.float32))
  return [np.full(ints(inputs[0]), np.asarray(value).reshape(-1)[0], np.asarray(value).dtype)]


@register("Range")
def range_(node, inputs):
  start, limit, delta = (np.asarray(v).reshape(()) for v in inputs)
  return [np.arange(start, limit, delta).astype(start.dtype)]


@register("Reshape")
def reshape(node, inputs):
  x, target = inputs
  target = ints(target)
  if not node.attrs.get("allowzero", 0):
    target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
  return [array_module(x).reshape(x, target)]


@register("Flatten")
def flatten(node, inputs):
  (x,) = inputs
  axis = axis_index(node.attrs.get("axis", 1), x.ndim)
  return [array_module(x).reshape(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))]


@register("Transpose")
def transpose(node, inputs):
  (x,) = inputs
  return [array_module(x).transpose(x, node.attrs.get("perm", list(range(x.ndim))[::-1]))]


@register("Concat")
def concat(node, inputs):
  xs = [x for x in inputs if x is not None]
  return [array_module(*xs).concatenate(xs, axis=node.attrs["axis"])]


@register("Split")
def split(node, inputs):
  x = inputs[0]
  axis = axis_index(node.attrs.get("axis", 0), x.ndim)
  sizes = node.attrs.get("split")
  if len(inputs) > 1 and inputs[1] is not None:
    sizes = ints(inputs[1])
  if sizes is None:
    parts = node.attrs.get("num_outputs", node.num_outputs)
    each = -(-x.shape[axis] // parts)
    sizes = [min(each, x.shape[axis] - i * each) for i in range(parts)]
  bounds = np.cumsum([0] + list(sizes))
  xp = array_module(x)
  return [xp.take(x, xp.arange(int(b), int(e)), axis=axis) if xp is np else
          lax.slice_in_dim(x, int(b), int(e), axis=axis) for b, e in zip(bounds[:-1], bounds[1:])]


@register("Slice")
def slice_(node, inputs):
  x = inputs[0]
  if node.opset < 10:
    starts, ends = node.attrs["starts"], node.attrs["ends"]
    axes, steps = node.attrs.get("axes"), None
  else:
    starts, ends = ints(inputs[1]), ints(inputs[2])
    axes = ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
    steps = ints(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else None
  axes = list(range(len(starts))) if axes is None else axes
  steps = [1] * len(starts) if steps is None else steps
  index = [slice(None)] * x.ndim
  for s, e, a, st in zip(starts, ends, axes, steps):
    # Python slices clamp out-of-range bounds the way ONNX specifies (INT64_MAX included).
    index[axis_index(a, x.ndim)] = slice(s, e, st)
  return [x[tuple(index)]]


@register("Squeeze")
def squeeze(node, inputs):
  x = inputs[0]
  axes = axes_of(node, inputs)
  if axes is None:
    axes = [i for i, d in enumerate(x.shape) if d == 1]
  return [array_module(x).reshape(x, [d for i, d in enumerate(x.shape)
                             if i not in {axis_index(a, x.ndim) for a in axes}])]


@register("Unsqueeze")
def unsqueeze(node, inputs):
  x = inputs[0]
  axes = axes_of(node, inputs)
  rank = x.ndim + len(axes)
  axes = sorted(axis_index(a, rank) for a in axes)
  shape_ = list(x.shape)
  for a in axes:
    shape_.insert(a, 1)
  return [array_module(x).reshape(x, shape_)]


@register("Gather")
def gather(node, inputs):
  x, idx = inputs
  axis = axis_index(node.attrs.get("axis", 0), x.ndim)
  idx = np.where(idx < 0, idx + x.shape[axis], idx)
  return [array_module(x).take(x, idx, axis=axis)]


@register("Expand")
def expand(node, inputs):
  x, target = inputs
  xp = array_module(x)
  out_shape = np.broadcast_shapes(tuple(x.shape), tuple(ints(target)))
  return [xp.broadcast_to(x, out_shape)]


@register("Tile")
def tile(node, inputs):
  x, reps = inputs
  return [array_module(x).tile(x, ints(reps))]


@register("Pad")
def pad(node, inputs):
  x = inputs[0]
  mode = node.attrs.get("mode", "constant")
  if node.opset < 11:
    pads, value = node.attrs["pads"], node.attrs.get("value", 0.0)
    axes = None
  else:
    pads = ints(inputs[1])
    value = inputs[2] if len(inputs) > 2 and inputs[2] is not None else 0.0
    axes = ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
  axes = list(range(x.ndim)) if axes is None else [axis_index(a, x.ndim) for a in axes]
  n = len(axes)
  widths = [(0, 0)] * x.ndim
  for i, a in enumerate(axes):
    widths[a] = (int(pads[i]), int(pads[i + n]))
  # Negative pads crop.
  crop = tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(widths))
  x = x[crop]
  widths = [(max(b, 0), max(e, 0)) for b, e in widths]
  xp = array_module(x)
  if mode == "constant":
    value = xp.asarray(value, x.dtype).reshape(())
    if xp is np:
      return [np.pad(x, widths, constant_values=value)]
    return [lax.pad(x, value, [(b, e, 0) for b, e in widths])]
  return [xp.pad(x, widths, mode={"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode])]

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The ONNX operators `lp_jax.onnx_jax` runs, each as a function of its inputs and attributes.

Every operator gets `(node, inputs)`: `node.attrs` holds the decoded attributes and `node.opset`
the model's default-domain opset (several operators moved attributes to inputs over the
versions). A value is a NumPy array when it is known while tracing (initializers that feed shapes,
`Shape` of a traced tensor, and anything computed only from those), else a JAX array; an operator
whose inputs are all NumPy computes in NumPy, which is how shape subgraphs fold. `STATIC_INPUTS`
names the inputs that must be known while tracing (shapes, axes, pads, indices).

Convolutions and matrix products run at `lax.Precision.HIGHEST`, so float32 results match
onnxruntime's to float rounding on every backend.
"""

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from jax import lax

HIGHEST = lax.Precision.HIGHEST
Op = Callable

# Inputs (by position) an operator needs as concrete values while tracing.
STATIC_INPUTS = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4), "Split": (1,),
    "Squeeze": (1,), "Unsqueeze": (1,), "Pad": (1, 3), "Resize": (1, 2, 3), "Upsample": (1,),
    "Gather": (1,), "CumSum": (1,), "ConstantOfShape": (0,), "Range": (0, 1, 2),
    "ReduceMean": (1,), "ReduceSum": (1,), "ReduceMax": (1,), "ReduceMin": (1,),
    "ReduceProd": (1,),
}

_OPS: dict = {}


def _op(*names):
  def register(fn):
    for name in names:
      _OPS[name] = fn
    return fn
  return register


def get(op_type: str):
  return _OPS.get(op_type)


def is_static(x) -> bool:
  return isinstance(x, (np.ndarray, np.generic))


def _xp(*xs):
  """NumPy when every (present) input is known while tracing, else jax.numpy."""
  return np if all(x is None or is_static(x) for x in xs) else jnp


def _ints(x) -> list:
  return [int(v) for v in np.asarray(x).reshape(-1)]


def _axis(axis: int, rank: int) -> int:
  return axis + rank if axis < 0 else axis


def _axes(node, inputs):
  """The `axes` of an operator that moved them from an attribute to input 1 (opset 13 / 18)."""
  if len(inputs) > 1 and inputs[1] is not None:
    return _ints(inputs[1])
  return node.attrs.get("axes")


def np_dtype(onnx_type: int):
  return onnx.helper.tensor_dtype_to_np_dtype(onnx_type)


# -- elementwise -------------------------------------------------------------------------------

def _binary(fn_name):
  def op(node, inputs):
    a, b = inputs
    xp = _xp(a, b)
    if fn_name == "divide" and np.issubdtype(np.result_type(a.dtype, b.dtype), np.integer):
      # ONNX integer division truncates toward zero.
      q = xp.abs(a) // xp.abs(b)
      return [(xp.sign(a) * xp.sign(b) * q).astype(np.result_type(a.dtype, b.dtype))]
    return [getattr(xp, fn_name)(a, b)]
  return op


for _name, _fn in (("Add", "add"), ("Sub", "subtract"), ("Mul", "multiply"), ("Div", "divide"),
                   ("Pow", "power"), ("Equal", "equal"), ("Greater", "greater"),
                   ("Less", "less"), ("GreaterOrEqual", "greater_equal"),
                   ("LessOrEqual", "less_equal"), ("And", "logical_and"),
                   ("Or", "logical_or")):
  _OPS[_name] = _binary(_fn)


def _unary(fn):
  def op(node, inputs):
    (x,) = inputs
    return [fn(_xp(x), x)]
  return op


for _name, _fn in (
    ("Relu", lambda xp, x: xp.maximum(x, xp.zeros((), x.dtype))),
    ("Sigmoid", lambda xp, x: jax.nn.sigmoid(x)),
    ("Sqrt", lambda xp, x: xp.sqrt(x)), ("Exp", lambda xp, x: xp.exp(x)),
    ("Log", lambda xp, x: xp.log(x)), ("Tanh", lambda xp, x: xp.tanh(x)),
    ("Neg", lambda xp, x: -x), ("Abs", lambda xp, x: xp.abs(x)),
    ("Floor", lambda xp, x: xp.floor(x)), ("Ceil", lambda xp, x: xp.ceil(x)),
    ("Reciprocal", lambda xp, x: 1 / x), ("Not", lambda xp, x: xp.logical_not(x)),
    ("Erf", lambda xp, x: jax.scipy.special.erf(x)),
    ("Softplus", lambda xp, x: jnp.logaddexp(x, jnp.zeros((), x.dtype))),
    ("Identity", lambda xp, x: x),
):
  _OPS[_name] = _unary(_fn)


@_op("Dropout")
def dropout(node, inputs):
  """Inference: the identity (the ratio and training_mode inputs do not act), mask all True."""
  x = inputs[0]
  return [x, jnp.ones(x.shape, bool)][:node.num_outputs]


@_op("LeakyRelu")
def leaky_relu(node, inputs):
  (x,) = inputs
  alpha = node.attrs.get("alpha", 0.01)
  return [jnp.where(x >= 0, x, x * jnp.asarray(alpha, x.dtype))]


@_op("PRelu")
def prelu(node, inputs):
  x, slope = inputs
  return [jnp.where(x >= 0, x, x * slope)]


@_op("HardSigmoid")
def hard_sigmoid(node, inputs):
  (x,) = inputs
  alpha, beta = node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5)
  return [jnp.clip(x * jnp.asarray(alpha, x.dtype) + jnp.asarray(beta, x.dtype), 0, 1)]


@_op("HardSwish")
def hard_swish(node, inputs):
  (x,) = inputs
  return [x * jnp.clip(x * jnp.asarray(1 / 6, x.dtype) + jnp.asarray(0.5, x.dtype), 0, 1)]


@_op("Clip")
def clip(node, inputs):
  x = inputs[0]
  if node.opset < 11:
    lo, hi = node.attrs.get("min"), node.attrs.get("max")
  else:
    lo = inputs[1] if len(inputs) > 1 else None
    hi = inputs[2] if len(inputs) > 2 else None
  xp = _xp(x, lo, hi)
  if lo is not None:
    x = xp.maximum(x, xp.asarray(lo, x.dtype))
  if hi is not None:
    x = xp.minimum(x, xp.asarray(hi, x.dtype))
  return [x]


def _variadic(fn_name):
  def op(node, inputs):
    xp = _xp(*inputs)
    out = inputs[0]
    for x in inputs[1:]:
      out = getattr(xp, fn_name)(out, x)
    return [out]
  return op


_OPS["Max"] = _variadic("maximum")
_OPS["Min"] = _variadic("minimum")
_OPS["Sum"] = _variadic("add")


@_op("Mean")
def mean(node, inputs):
  return [_variadic("add")(node, inputs)[0] / len(inputs)]


@_op("Where")
def where(node, inputs):
  c, a, b = inputs
  return [_xp(c, a, b).where(c, a, b)]


@_op("Cast")
def cast(node, inputs):
  (x,) = inputs
  dtype = np_dtype(node.attrs["to"])
  return [x.astype(dtype)]


# -- linear algebra and convolution ------------------------------------------------------------

@_op("MatMul")
def matmul(node, inputs):
  a, b = inputs
  return [jnp.matmul(a, b, precision=HIGHEST)]


@_op("Gemm")
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


@_op("Conv")
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


@_op("ConvTranspose")
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


@_op("BatchNormalization")
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


@_op("MaxPool")
def max_pool(node, inputs):
  (x,) = inputs
  n, kernel, strides, dilations, padding, extra = _pool_geometry(node, x)
  pad = [(0, 0), (0, 0)] + [(b, e + x_) for (b, e), x_ in zip(padding, extra)]
  y = lax.reduce_window(x, -jnp.inf, lax.max, (1, 1) + tuple(kernel), (1, 1) + tuple(strides),
                        pad, window_dilation=(1, 1) + tuple(dilations))
  return [y]


@_op("AveragePool")
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


@_op("GlobalAveragePool")
def global_average_pool(node, inputs):
  (x,) = inputs
  return [jnp.mean(x, axis=tuple(range(2, x.ndim)), keepdims=True)]


@_op("GlobalMaxPool")
def global_max_pool(node, inputs):
  (x,) = inputs
  return [jnp.max(x, axis=tuple(range(2, x.ndim)), keepdims=True)]


# -- reductions and normalisation ---------------------------------------------------------------

def _reduce(fn_name):
  def op(node, inputs):
    x = inputs[0]
    axes = _axes(node, inputs)
    keepdims = bool(node.attrs.get("keepdims", 1))
    if not axes:
      if node.attrs.get("noop_with_empty_axes", 0):
        return [x]
      axes = range(x.ndim)
    axes = tuple(_axis(a, x.ndim) for a in axes)
    return [getattr(_xp(x), fn_name)(x, axis=axes, keepdims=keepdims)]
  return op


for _name, _fn in (("ReduceMean", "mean"), ("ReduceSum", "sum"), ("ReduceMax", "max"),
                   ("ReduceMin", "min"), ("ReduceProd", "prod")):
  _OPS[_name] = _reduce(_fn)


@_op("Softmax")
def softmax(node, inputs):
  (x,) = inputs
  if node.opset < 13:
    # Before opset 13 Softmax flattens the axes from `axis` on into one.
    axis = _axis(node.attrs.get("axis", 1), x.ndim)
    flat = jnp.reshape(x, (math.prod(x.shape[:axis]), -1))
    return [jnp.reshape(jax.nn.softmax(flat, axis=-1), x.shape)]
  return [jax.nn.softmax(x, axis=node.attrs.get("axis", -1))]


@_op("CumSum")
def cumsum(node, inputs):
  x, axis = inputs
  axis = _axis(_ints(axis)[0], x.ndim)
  xp = _xp(x)
  if node.attrs.get("reverse", 0):
    x = xp.flip(x, axis)
  y = xp.cumsum(x, axis=axis, dtype=x.dtype)
  if node.attrs.get("exclusive", 0):
    y = y - x
  if node.attrs.get("reverse", 0):
    y = xp.flip(y, axis)
  return [y]


# -- shapes ---------------------------------------------------------------------------------------

@_op("Shape")
def shape(node, inputs):
  (x,) = inputs
  dims = np.asarray(x.shape, np.int64)
  return [dims[node.attrs.get("start", 0):node.attrs.get("end", None)]]


@_op("Size")
def size(node, inputs):
  return [np.asarray(math.prod(inputs[0].shape), np.int64)]


@_op("Constant")
def constant(node, inputs):
  a = node.attrs
  for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                     ("value_int", np.int64), ("value_ints", np.int64)):
    if key in a:
      return [np.asarray(a[key], dtype)]
  return [np.asarray(a["value"])]


@_op("ConstantOfShape")
def constant_of_shape(node, inputs):
  value = node.attrs.get("value", np.zeros(1, np.float32))
  return [np.full(_ints(inputs[0]), np.asarray(value).reshape(-1)[0], np.asarray(value).dtype)]


@_op("Range")
def range_(node, inputs):
  start, limit, delta = (np.asarray(v).reshape(()) for v in inputs)
  return [np.arange(start, limit, delta).astype(start.dtype)]


@_op("Reshape")
def reshape(node, inputs):
  x, target = inputs
  target = _ints(target)
  if not node.attrs.get("allowzero", 0):
    target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
  return [_xp(x).reshape(x, target)]


@_op("Flatten")
def flatten(node, inputs):
  (x,) = inputs
  axis = _axis(node.attrs.get("axis", 1), x.ndim)
  return [_xp(x).reshape(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))]


@_op("Transpose")
def transpose(node, inputs):
  (x,) = inputs
  return [_xp(x).transpose(x, node.attrs.get("perm", list(range(x.ndim))[::-1]))]


@_op("Concat")
def concat(node, inputs):
  xs = [x for x in inputs if x is not None]
  return [_xp(*xs).concatenate(xs, axis=node.attrs["axis"])]


@_op("Split")
def split(node, inputs):
  x = inputs[0]
  axis = _axis(node.attrs.get("axis", 0), x.ndim)
  sizes = node.attrs.get("split")
  if len(inputs) > 1 and inputs[1] is not None:
    sizes = _ints(inputs[1])
  if sizes is None:
    parts = node.attrs.get("num_outputs", node.num_outputs)
    each = -(-x.shape[axis] // parts)
    sizes = [min(each, x.shape[axis] - i * each) for i in range(parts)]
  bounds = np.cumsum([0] + list(sizes))
  xp = _xp(x)
  return [xp.take(x, xp.arange(int(b), int(e)), axis=axis) if xp is np else
          lax.slice_in_dim(x, int(b), int(e), axis=axis) for b, e in zip(bounds[:-1], bounds[1:])]


@_op("Slice")
def slice_(node, inputs):
  x = inputs[0]
  if node.opset < 10:
    starts, ends = node.attrs["starts"], node.attrs["ends"]
    axes, steps = node.attrs.get("axes"), None
  else:
    starts, ends = _ints(inputs[1]), _ints(inputs[2])
    axes = _ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
    steps = _ints(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else None
  axes = list(range(len(starts))) if axes is None else axes
  steps = [1] * len(starts) if steps is None else steps
  index = [slice(None)] * x.ndim
  for s, e, a, st in zip(starts, ends, axes, steps):
    # Python slices clamp out-of-range bounds the way ONNX specifies (INT64_MAX included).
    index[_axis(a, x.ndim)] = slice(s, e, st)
  return [x[tuple(index)]]


@_op("Squeeze")
def squeeze(node, inputs):
  x = inputs[0]
  axes = _axes(node, inputs)
  if axes is None:
    axes = [i for i, d in enumerate(x.shape) if d == 1]
  return [_xp(x).reshape(x, [d for i, d in enumerate(x.shape)
                             if i not in {_axis(a, x.ndim) for a in axes}])]


@_op("Unsqueeze")
def unsqueeze(node, inputs):
  x = inputs[0]
  axes = _axes(node, inputs)
  rank = x.ndim + len(axes)
  axes = sorted(_axis(a, rank) for a in axes)
  shape_ = list(x.shape)
  for a in axes:
    shape_.insert(a, 1)
  return [_xp(x).reshape(x, shape_)]


@_op("Gather")
def gather(node, inputs):
  x, idx = inputs
  axis = _axis(node.attrs.get("axis", 0), x.ndim)
  idx = np.where(idx < 0, idx + x.shape[axis], idx)
  return [_xp(x).take(x, idx, axis=axis)]


@_op("Expand")
def expand(node, inputs):
  x, target = inputs
  xp = _xp(x)
  out_shape = np.broadcast_shapes(tuple(x.shape), tuple(_ints(target)))
  return [xp.broadcast_to(x, out_shape)]


@_op("Tile")
def tile(node, inputs):
  x, reps = inputs
  return [_xp(x).tile(x, _ints(reps))]


@_op("Pad")
def pad(node, inputs):
  x = inputs[0]
  mode = node.attrs.get("mode", "constant")
  if node.opset < 11:
    pads, value = node.attrs["pads"], node.attrs.get("value", 0.0)
    axes = None
  else:
    pads = _ints(inputs[1])
    value = inputs[2] if len(inputs) > 2 and inputs[2] is not None else 0.0
    axes = _ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
  axes = list(range(x.ndim)) if axes is None else [_axis(a, x.ndim) for a in axes]
  n = len(axes)
  widths = [(0, 0)] * x.ndim
  for i, a in enumerate(axes):
    widths[a] = (int(pads[i]), int(pads[i + n]))
  # Negative pads crop.
  crop = tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(widths))
  x = x[crop]
  widths = [(max(b, 0), max(e, 0)) for b, e in widths]
  xp = _xp(x)
  if mode == "constant":
    value = xp.asarray(value, x.dtype).reshape(())
    if xp is np:
      return [np.pad(x, widths, constant_values=value)]
    return [lax.pad(x, value, [(b, e, 0) for b, e in widths])]
  return [xp.pad(x, widths, mode={"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode])]


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


@_op("Resize")
def resize(node, inputs):
  x = inputs[0]
  if node.opset < 11:
    scales, sizes = _floats(inputs[1]), None
  else:
    scales = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    scales = _floats(scales) if scales is not None and np.size(scales) else None
    sizes = inputs[3] if len(inputs) > 3 and inputs[3] is not None else None
    sizes = _ints(sizes) if sizes is not None and np.size(sizes) else None
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


@_op("Upsample")
def upsample(node, inputs):
  x = inputs[0]
  scales = node.attrs["scales"] if node.opset < 9 else _floats(inputs[1])
  out_shape = [int(math.floor(d * s)) for d, s in zip(x.shape, scales)]
  # Upsample maps output i to input i / scale (asymmetric), like Resize before opset 11.
  return [_resize(x, out_shape, scales, node.attrs.get("mode", "nearest"), "asymmetric",
                  "legacy")]


def _floats(x) -> list:
  return [float(v) for v in np.asarray(x).reshape(-1)]


def check_attributes(node) -> str:
  """Why the converter cannot run this node's attribute values ('' when it can)."""
  a = node.attrs
  if node.op_type in ("Resize", "Upsample"):
    if a.get("mode", "nearest") not in RESIZE_MODES:
      return f"mode {a.get('mode')!r}"
    if a.get("coordinate_transformation_mode", "half_pixel") not in COORDINATE_MODES:
      return f"coordinate_transformation_mode {a.get('coordinate_transformation_mode')!r}"
  if node.op_type == "Pad" and a.get("mode", "constant") not in ("constant", "reflect", "edge",
                                                                 "wrap"):
    return f"mode {a.get('mode')!r}"
  if node.op_type == "MaxPool" and node.num_outputs > 1:
    return "the Indices output"
  if node.op_type == "BatchNormalization" and node.num_outputs > 1 and a.get(
      "training_mode", 0):
    return "training_mode"
  return ""


SUPPORTED = tuple(sorted(_OPS))

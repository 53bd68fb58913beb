# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Elementwise ONNX operators, activations, reductions, Softmax and CumSum."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from lp_jax.onnx_jax.registry import (OPS, array_module, axes_of, axis_index, ints, np_dtype,
                                      register)


# -- elementwise -------------------------------------------------------------------------------

def _binary(fn_name):
  def op(node, inputs):
    a, b = inputs
    xp = array_module(a, b)
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
  OPS[_name] = _binary(_fn)


def _unary(fn):
  def op(node, inputs):
    (x,) = inputs
    return [fn(array_module(x), x)]
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
  OPS[_name] = _unary(_fn)


@register("Dropout")
def dropout(node, inputs):
  """Inference: the identity (the ratio and training_mode inputs do not act), mask all True."""
  x = inputs[0]
  return [x, jnp.ones(x.shape, bool)][:node.num_outputs]


@register("LeakyRelu")
def leaky_relu(node, inputs):
  (x,) = inputs
  alpha = node.attrs.get("alpha", 0.01)
  return [jnp.where(x >= 0, x, x * jnp.asarray(alpha, x.dtype))]


@register("PRelu")
def prelu(node, inputs):
  x, slope = inputs
  return [jnp.where(x >= 0, x, x * slope)]


@register("HardSigmoid")
def hard_sigmoid(node, inputs):
  (x,) = inputs
  alpha, beta = node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5)
  return [jnp.clip(x * jnp.asarray(alpha, x.dtype) + jnp.asarray(beta, x.dtype), 0, 1)]


@register("HardSwish")
def hard_swish(node, inputs):
  (x,) = inputs
  return [x * jnp.clip(x * jnp.asarray(1 / 6, x.dtype) + jnp.asarray(0.5, x.dtype), 0, 1)]


@register("Clip")
def clip(node, inputs):
  x = inputs[0]
  if node.opset < 11:
    lo, hi = node.attrs.get("min"), node.attrs.get("max")
  else:
    lo = inputs[1] if len(inputs) > 1 else None
    hi = inputs[2] if len(inputs) > 2 else None
  xp = array_module(x, lo, hi)
  if lo is not None:
    x = xp.maximum(x, xp.asarray(lo, x.dtype))
  if hi is not None:
    x = xp.minimum(x, xp.asarray(hi, x.dtype))
  return [x]


def _variadic(fn_name):
  def op(node, inputs):
    xp = array_module(*inputs)
    out = inputs[0]
    for x in inputs[1:]:
      out = getattr(xp, fn_name)(out, x)
    return [out]
  return op


OPS["Max"] = _variadic("maximum")
OPS["Min"] = _variadic("minimum")
OPS["Sum"] = _variadic("add")


@register("Mean")
def mean(node, inputs):
  return [_variadic("add")(node, inputs)[0] / len(inputs)]


@register("Where")
def where(node, inputs):
  c, a, b = inputs
  return [array_module(c, a, b).where(c, a, b)]


@register("Cast")
def cast(node, inputs):
  (x,) = inputs
  dtype = np_dtype(node.attrs["to"])
  return [x.astype(dtype)]


# -- reductions and normalisation ---------------------------------------------------------------

def _reduce(fn_name):
  def op(node, inputs):
    x = inputs[0]
    axes = axes_of(node, inputs)
    keepdims = bool(node.attrs.get("keepdims", 1))
    if not axes:
      if node.attrs.get("noop_with_empty_axes", 0):
        return [x]
      axes = range(x.ndim)
    axes = tuple(axis_index(a, x.ndim) for a in axes)
    return [getattr(array_module(x), fn_name)(x, axis=axes, keepdims=keepdims)]
  return op


for _name, _fn in (("ReduceMean", "mean"), ("ReduceSum", "sum"), ("ReduceMax", "max"),
                   ("ReduceMin", "min"), ("ReduceProd", "prod")):
  OPS[_name] = _reduce(_fn)


@register("Softmax")
def softmax(node, inputs):
  (x,) = inputs
  if node.opset < 13:
    # Before opset 13 Softmax flattens the axes from `axis` on into one.
    axis = axis_index(node.attrs.get("axis", 1), x.ndim)
    flat = jnp.reshape(x, (math.prod(x.shape[:axis]), -1))
    return [jnp.reshape(jax.nn.softmax(flat, axis=-1), x.shape)]
  return [jax.nn.softmax(x, axis=node.attrs.get("axis", -1))]


@register("CumSum")
def cumsum(node, inputs):
  x, axis = inputs
  axis = axis_index(ints(axis)[0], x.ndim)
  xp = array_module(x)
  if node.attrs.get("reverse", 0):
    x = xp.flip(x, axis)
  y = xp.cumsum(x, axis=axis, dtype=x.dtype)
  if node.attrs.get("exclusive", 0):
    y = y - x
  if node.attrs.get("reverse", 0):
    y = xp.flip(y, axis)
  return [y]

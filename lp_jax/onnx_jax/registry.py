# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The operator table of lp_jax.onnx_jax and the helpers its operator modules share.

Every operator gets `(node, inputs)`: `node.attrs` holds the decoded attributes and `node.opset`
the model's default-domain opset (several operators moved attributes to inputs over the
versions). A value is a NumPy array when it is known while tracing (initializers that feed shapes,
`Shape` of a traced tensor, and anything computed only from those), else a JAX array; an operator
whose inputs are all NumPy computes in NumPy, which is how shape subgraphs fold. `STATIC_INPUTS`
names the inputs that must be known while tracing (shapes, axes, pads, indices).
"""

import jax.numpy as jnp
import numpy as np
import onnx
from jax import lax

# Convolutions and matrix products run at HIGHEST, so float32 results match onnxruntime's to
# float rounding on every backend.
HIGHEST = lax.Precision.HIGHEST

# Inputs (by position) an operator needs as concrete values while tracing.
STATIC_INPUTS = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4), "Split": (1,),
    "Squeeze": (1,), "Unsqueeze": (1,), "Pad": (1, 3), "Resize": (1, 2, 3), "Upsample": (1,),
    "Gather": (1,), "CumSum": (1,), "ConstantOfShape": (0,), "Range": (0, 1, 2),
    "ReduceMean": (1,), "ReduceSum": (1,), "ReduceMax": (1,), "ReduceMin": (1,),
    "ReduceProd": (1,),
}

OPS: dict = {}


def register(*names):
  """Decorator: the function runs the ONNX operators `names`."""
  def add(fn):
    for name in names:
      OPS[name] = fn
    return fn
  return add


def get(op_type: str):
  return OPS.get(op_type)


def is_static(x) -> bool:
  return isinstance(x, (np.ndarray, np.generic))


def array_module(*xs):
  """NumPy when every (present) input is known while tracing, else jax.numpy."""
  return np if all(x is None or is_static(x) for x in xs) else jnp


def ints(x) -> list:
  return [int(v) for v in np.asarray(x).reshape(-1)]


def floats(x) -> list:
  return [float(v) for v in np.asarray(x).reshape(-1)]


def axis_index(axis: int, rank: int) -> int:
  return axis + rank if axis < 0 else axis


def axes_of(node, inputs):
  """The `axes` of an operator that moved them from an attribute to input 1 (opset 13 / 18)."""
  if len(inputs) > 1 and inputs[1] is not None:
    return ints(inputs[1])
  return node.attrs.get("axes")


def np_dtype(onnx_type: int):
  return onnx.helper.tensor_dtype_to_np_dtype(onnx_type)

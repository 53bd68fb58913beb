# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""An ONNX graph as a pure JAX function of its float initializers and inputs.

Loading checks every node against the operator table first, so a graph the converter cannot run
fails at once with one line (`UnsupportedOperatorError`) rather than inside a trace. Initializers
split two ways: those that feed a shape, an axis list, pads or gather indices (found by walking
back from the `ops.STATIC_INPUTS` of every node) stay NumPy constants, so the traced program has
static shapes; the rest become `params`, the arrays `apply` takes, which keeps multi-megabyte
weights out of the compiled program's constants and lets a caller place or differentiate them.
"""

import dataclasses
import os
from typing import Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from onnx import numpy_helper

from lp_jax.errors import InputError, first_line
from lp_jax.onnx_jax import ops

ModelSource = Union[str, os.PathLike, bytes, onnx.ModelProto]


class UnsupportedOperatorError(InputError):
  """The graph holds an operator (or attribute value) the JAX converter does not run."""


@dataclasses.dataclass(frozen=True)
class Node:
  op_type: str
  name: str
  inputs: tuple
  outputs: tuple
  attrs: dict
  opset: int

  @property
  def num_outputs(self) -> int:
    return len(self.outputs)


@dataclasses.dataclass(frozen=True)
class ValueInfo:
  """A graph input or output: its name, shape (ints, or str / None for free dims) and dtype."""
  name: str
  shape: tuple
  dtype: Optional[np.dtype]


def _attr_value(attr: onnx.AttributeProto):
  value = onnx.helper.get_attribute_value(attr)
  if isinstance(value, bytes):
    return value.decode()
  if isinstance(value, onnx.TensorProto):
    return numpy_helper.to_array(value)
  if isinstance(value, list):
    return [v.decode() if isinstance(v, bytes) else v for v in value]
  return value


def _value_info(v: onnx.ValueInfoProto) -> ValueInfo:
  t = v.type.tensor_type
  dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
               for d in t.shape.dim)
  # An output may leave its type undeclared (elem_type 0); onnxruntime infers it.
  dtype = np.dtype(ops.np_dtype(t.elem_type)) if t.elem_type else None
  return ValueInfo(v.name, dims, dtype)


def _read_model(model: ModelSource) -> tuple[onnx.ModelProto, str]:
  if isinstance(model, onnx.ModelProto):
    return model, model.graph.name or "<onnx model>"
  if isinstance(model, bytes):
    return onnx.load_from_string(model), "<onnx bytes>"
  path = os.fspath(model)
  try:
    return onnx.load(path), path
  except FileNotFoundError:
    raise
  except Exception as e:  # onnx raises DecodeError and others for a file that is not a model
    raise InputError(f"{path}: not a readable ONNX model ({type(e).__name__}: "
                     f"{first_line(e)})") from None


def _static_values(nodes: Sequence[Node]) -> set:
  """Names of the values some operator needs while tracing, and everything they derive from."""
  producer = {out: n for n in nodes for out in n.outputs}
  needed, stack = set(), []
  for n in nodes:
    for i in ops.STATIC_INPUTS.get(n.op_type, ()):
      if i < len(n.inputs) and n.inputs[i]:
        stack.append(n.inputs[i])
  while stack:
    name = stack.pop()
    if name in needed:
      continue
    needed.add(name)
    node = producer.get(name)
    # A Shape node's output is static whatever its input is: only the input's shape is read.
    if node is not None and node.op_type not in ("Shape", "Size"):
      stack.extend(i for i in node.inputs if i)
  return needed


class OnnxFunction:
  """A loaded ONNX graph: `apply(params, *inputs)` returns its outputs as a tuple.

  Attributes:
    path: where the graph came from (for messages).
    inputs, outputs: `ValueInfo` of the graph's inputs (initializers excluded) and outputs.
    params: {initializer name: float32 NumPy array}, the arrays `apply` takes.
  """

  def __init__(self, model: ModelSource, name: Optional[str] = None):
    proto, path = _read_model(model)
    self.path = name or path
    graph = proto.graph
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
    self.nodes = tuple(
        Node(n.op_type, n.name, tuple(n.input), tuple(n.output),
             {a.name: _attr_value(a) for a in n.attribute}, opset) for n in graph.node)
    for proto_node, node in zip(graph.node, self.nodes):
      if proto_node.domain not in ("", "ai.onnx") or ops.get(node.op_type) is None:
        where = f" (node {node.name!r})" if node.name else ""
        raise UnsupportedOperatorError(
            f"{self.path}: ONNX operator {node.op_type}{where} is not supported by "
            f"lp_jax.onnx_jax")
      why = ops.check_attributes(node)
      if why:
        raise UnsupportedOperatorError(
            f"{self.path}: ONNX operator {node.op_type} with {why} is not supported by "
            f"lp_jax.onnx_jax")
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    static = _static_values(self.nodes)
    self.constants = {k: v for k, v in initializers.items()
                      if k in static or not np.issubdtype(v.dtype, np.floating)}
    self.params = {k: v for k, v in initializers.items() if k not in self.constants}
    self.inputs = tuple(_value_info(v) for v in graph.input if v.name not in initializers)
    self.outputs = tuple(_value_info(v) for v in graph.output)
    static_inputs = [v.name for v in self.inputs if v.name in static]
    if static_inputs:
      raise UnsupportedOperatorError(
          f"{self.path}: graph input {static_inputs[0]} sets a shape; lp_jax.onnx_jax needs "
          f"graph inputs that are data")

  @property
  def input_names(self) -> tuple:
    return tuple(v.name for v in self.inputs)

  @property
  def output_names(self) -> tuple:
    return tuple(v.name for v in self.outputs)

  def apply(self, params: dict, *inputs) -> tuple:
    """The graph's outputs for `inputs` (in `input_names` order); pure and jittable."""
    if len(inputs) != len(self.inputs):
      raise InputError(f"{self.path}: expected {len(self.inputs)} input(s) "
                       f"({', '.join(self.input_names)}), got {len(inputs)}")
    env = dict(self.constants)
    env.update(params)
    env.update({v.name: jnp.asarray(x) for v, x in zip(self.inputs, inputs)})
    for node in self.nodes:
      args = [env[i] if i else None for i in node.inputs]
      # Trailing optional inputs left empty are dropped, as if absent.
      while args and args[-1] is None:
        args.pop()
      results = ops.get(node.op_type)(node, args)
      for name, value in zip(node.outputs, results):
        if name:
          env[name] = value
    return tuple(jnp.asarray(env[name]) for name in self.output_names)

  def __call__(self, *inputs) -> tuple:
    return self.apply(self.params, *inputs)

  def jit(self, device: Optional[jax.Device] = None):
    """A jitted `inputs -> outputs` with the params placed once on `device` (default: JAX's)."""
    device = device or jax.devices()[0]
    params = jax.device_put({k: jnp.asarray(v) for k, v in self.params.items()}, device)
    fn = jax.jit(self.apply)
    return lambda *inputs: fn(params, *inputs)


def load(model: ModelSource, name: Optional[str] = None) -> OnnxFunction:
  """Reads an ONNX model (path, bytes or ModelProto) as an `OnnxFunction`.

  Raises:
    UnsupportedOperatorError: one line naming the first operator outside `ops.SUPPORTED`.
    InputError: the file is not an ONNX model.
  """
  return OnnxFunction(model, name)

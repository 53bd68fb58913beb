# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax.onnx_jax against onnxruntime: every supported operator, the errors, the real face models.

* Hand-built graphs (`CASES`, one list so `test_cases_cover_every_supported_operator` can
  enumerate it) use every operator of `onnx_jax.SUPPORTED` with the attribute variants the face
  models and common exporters produce, including the older opsets where an operator's signature
  changed. Each runs in onnxruntime and through `jax.jit(fn.apply)`; floats must agree to 1e-4 of
  the reference's largest magnitude, integers and booleans exactly.
* Unsupported operators, attribute values and non-ONNX files fail at load time with one line, and
  `scrfd.make_session(backend="jax")` falls back to onnxruntime with one line on stderr.
* The face models of a detectors folder (default ../shared/golden/detectors_seed0, or
  $LP_DETECTORS_DIR) agree with onnxruntime on real photos preprocessed as the pipeline does.
"""

import dataclasses
import glob
import os
import zlib

import cv2
import jax
import numpy as np
import onnx
from onnx import helper
from onnx import numpy_helper
from onnx import TensorProto
import onnxruntime
import pytest

from conftest import GOLDEN_DIR, SHARED
from lp_jax import onnx_jax
from lp_jax.detect import landmark106
from lp_jax.detect import landmark203
from lp_jax.detect import scrfd
from lp_jax.errors import InputError

# The project's parity convention (conftest sets it too; repeated so this file stands alone).
jax.config.update("jax_default_matmul_precision", "highest")

RTOL = 1e-4
# A floor on the reference magnitude: the detector's score maps are ~1e-7 on strides without a
# face, where an error relative to 1e-7 would measure float noise rather than the converter.
# onnxruntime's own Sigmoid (MLAS) is off by up to ~6e-8 absolute near 0 where onnx_jax's is exact
# to rounding, so on detectors_seed0 det_10g's stride-8 scores differ by ~8e-8: 8e-5 of the floor.
FLOOR = 1e-3
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min
N = helper.make_node


# -- inputs ---------------------------------------------------------------------------------------

def randn(*shape, seed: int) -> np.ndarray:
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def positive(*shape, seed: int) -> np.ndarray:
  """Values in [0.25, 2.25): for Sqrt, Log, Pow bases, ReduceProd and variances."""
  return (np.random.default_rng(seed).random(shape) * 2 + 0.25).astype(np.float32)


def nonzero(*shape, seed: int) -> np.ndarray:
  """Values with |v| in [0.5, 2): divisors far from zero."""
  rng = np.random.default_rng(seed)
  return (np.sign(rng.standard_normal(shape)) * (rng.random(shape) * 1.5 + 0.5)).astype(
      np.float32)


def i64(*values) -> np.ndarray:
  return np.asarray(values, np.int64)


def f32(*values) -> np.ndarray:
  return np.asarray(values, np.float32)


# -- hand-built graphs ----------------------------------------------------------------------------

@dataclasses.dataclass
class Case:
  """One small graph: its nodes, graph inputs and initializers (name -> array), outputs, opset."""
  id: str
  nodes: list
  inputs: dict
  outputs: list
  inits: dict = dataclasses.field(default_factory=dict)
  opset: int = 13

  def model(self) -> onnx.ModelProto:
    graph = helper.make_graph(
        self.nodes, self.id,
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for k, v in self.inputs.items()],
        # Output types come from ONNX's (strict) shape inference, which also rejects a malformed
        # test graph before either runtime sees it.
        [onnx.ValueInfoProto(name=o) for o in self.outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in self.inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
    model.ir_version = 8  # onnxruntime 1.x reads IR 8 with every opset used here
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)


def _elementwise() -> list:
  x = randn(2, 3, 4, seed=1)
  return [
      Case("binary-broadcast",
           [N("Add", ["x", "b"], ["add"]), N("Sub", ["b", "x"], ["sub"]),
            N("Mul", ["x", "w"], ["mul"]), N("Div", ["x", "d"], ["div"]),
            N("Pow", ["p", "e"], ["pow"])],
           {"x": x, "b": randn(3, 1, seed=2), "d": nonzero(4, seed=3),
            "p": positive(2, 3, 4, seed=4)},
           ["add", "sub", "mul", "div", "pow"],
           {"w": randn(1, 3, 1, seed=5), "e": randn(3, 1, seed=6)}),
      # ONNX integer division truncates toward zero, NumPy's // floors.
      Case("div-int64-truncates",
           [N("Div", ["a", "b"], ["q"]), N("Div", ["a", "c"], ["qc"])],
           {"a": i64(-7, 7, -8, 9, 5, -1), "b": i64(2, -2, 3, 4, -5, 3)}, ["q", "qc"],
           {"c": i64(-3)}),
      Case("compare-logic-where",
           [N("Floor", ["x"], ["fx"]), N("Floor", ["y"], ["fy"]),
            N("Greater", ["x", "y"], ["gt"]), N("Less", ["x", "t"], ["lt"]),
            N("GreaterOrEqual", ["fx", "fy"], ["ge"]), N("LessOrEqual", ["fx", "fy"], ["le"]),
            N("Equal", ["fx", "fy"], ["eq"]),
            N("Cast", ["fx"], ["ix"], to=TensorProto.INT64),
            N("Equal", ["ix", "zero"], ["ieq"]),
            N("And", ["gt", "lt"], ["and"]), N("Or", ["eq", "lt"], ["or"]),
            N("Not", ["ge"], ["not"]), N("Where", ["gt", "x", "y"], ["where"]),
            N("Where", ["and", "x", "t"], ["where_bcast"])],
           {"x": randn(3, 5, seed=7) * 2, "y": randn(3, 5, seed=8) * 2},
           ["gt", "lt", "ge", "le", "eq", "ieq", "and", "or", "not", "where", "where_bcast"],
           {"t": f32(0.5), "zero": i64(0)}),
      Case("unary-math",
           [N(op, ["x"], [op.lower()]) for op in
            ("Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Floor", "Ceil", "Exp", "Erf", "Softplus",
             "Identity")] +
           [N(op, ["p"], [op.lower()]) for op in ("Sqrt", "Log")] +
           [N("Reciprocal", ["d"], ["reciprocal"])],
           {"x": x * 3, "p": positive(2, 3, 4, seed=9), "d": nonzero(2, 3, 4, seed=10)},
           ["relu", "sigmoid", "tanh", "neg", "abs", "floor", "ceil", "exp", "erf", "softplus",
            "identity", "sqrt", "log", "reciprocal"]),
      Case("activations-opset14",
           [N("LeakyRelu", ["x"], ["leaky"], alpha=0.2), N("LeakyRelu", ["x"], ["leaky_default"]),
            N("HardSigmoid", ["x"], ["hsig"], alpha=0.3, beta=0.4),
            N("HardSigmoid", ["x"], ["hsig_default"]), N("HardSwish", ["x"], ["hswish"]),
            N("PRelu", ["x4", "slope"], ["prelu"]), N("PRelu", ["x4", "slope1"], ["prelu1"])],
           {"x": x * 4, "x4": randn(2, 3, 4, 5, seed=11)},
           ["leaky", "leaky_default", "hsig", "hsig_default", "hswish", "prelu", "prelu1"],
           {"slope": randn(3, 1, 1, seed=12), "slope1": f32(0.25)}, opset=14),
      Case("dropout-inference",
           [N("Dropout", ["x"], ["y"]), N("Dropout", ["x"], ["y10"])],
           {"x": x}, ["y", "y10"]),
      Case("dropout-ratio-input",
           [N("Dropout", ["x", "ratio"], ["y"])], {"x": x}, ["y"], {"ratio": f32(0.3)[0]}),
      Case("dropout-mask-output",
           [N("Dropout", ["x"], ["y", "mask"])], {"x": x}, ["y", "mask"]),
      Case("clip-opset13-inputs",
           [N("Clip", ["x", "lo", "hi"], ["both"]), N("Clip", ["x", "", "hi"], ["max_only"]),
            N("Clip", ["x", "lo"], ["min_only"]), N("Clip", ["x"], ["none"])],
           {"x": x}, ["both", "max_only", "min_only", "none"],
           {"lo": f32(-0.5)[0], "hi": f32(0.7)[0]}),
      Case("clip-opset6-attrs",
           [N("Clip", ["x"], ["both"], min=-0.5, max=0.7), N("Clip", ["x"], ["max_only"], max=0.2)],
           {"x": x}, ["both", "max_only"], opset=6),
      Case("variadic-max-min-sum-mean",
           [N(op, ["a", "b", "c"], [op.lower()]) for op in ("Max", "Min", "Sum", "Mean")] +
           [N("Max", ["a"], ["max1"])],
           {"a": randn(2, 3, 4, seed=13), "b": randn(3, 1, seed=14), "c": randn(4, seed=15)},
           ["max", "min", "sum", "mean", "max1"]),
      Case("cast",
           [N("Mul", ["x", "three"], ["x3"]),
            N("Cast", ["x3"], ["to_i32"], to=TensorProto.INT32),
            N("Cast", ["x3"], ["to_i64"], to=TensorProto.INT64),
            N("Cast", ["to_i64"], ["back_f32"], to=TensorProto.FLOAT),
            N("Floor", ["x"], ["fx"]),
            N("Cast", ["fx"], ["to_bool"], to=TensorProto.BOOL),
            N("Cast", ["to_bool"], ["bool_f32"], to=TensorProto.FLOAT)],
           {"x": x}, ["to_i32", "to_i64", "back_f32", "to_bool", "bool_f32"],
           {"three": f32(3.0)}),
  ]


def _linear() -> list:
  return [
      Case("matmul-2d", [N("MatMul", ["a", "b"], ["y"])],
           {"a": randn(3, 4, seed=20)}, ["y"], {"b": randn(4, 2, seed=21)}),
      Case("matmul-batched-broadcast", [N("MatMul", ["a", "b"], ["y"])],
           {"a": randn(2, 3, 4, 5, seed=22), "b": randn(3, 5, 6, seed=23)}, ["y"]),
      Case("gemm-bias-row", [N("Gemm", ["a", "b", "c"], ["y"])],
           {"a": randn(3, 4, seed=24)}, ["y"], {"b": randn(4, 5, seed=25), "c": randn(5, seed=26)}),
      Case("gemm-transA-transB-alpha-beta",
           [N("Gemm", ["a", "b", "c"], ["y"], transA=1, transB=1, alpha=0.5, beta=2.0)],
           {"a": randn(4, 3, seed=27)}, ["y"],
           {"b": randn(5, 4, seed=28), "c": randn(3, 5, seed=29)}),
      Case("gemm-transB-no-bias", [N("Gemm", ["a", "b"], ["y"], transB=1, alpha=1.5)],
           {"a": randn(2, 6, seed=30)}, ["y"], {"b": randn(3, 6, seed=31)}),
      Case("gemm-bias-column-beta", [N("Gemm", ["a", "b", "c"], ["y"], beta=0.25)],
           {"a": randn(3, 4, seed=32)}, ["y"],
           {"b": randn(4, 5, seed=33), "c": randn(3, 1, seed=34)}),
  ]


def _conv(id_, x_shape, w_shape, bias=True, **attrs) -> Case:
  seed = zlib.crc32(id_.encode()) % 1000
  inits = {"w": randn(*w_shape, seed=seed + 1)}
  if bias:
    inits["b"] = randn(w_shape[0], seed=seed + 2)
  return Case(id_, [N("Conv", ["x", "w", "b"] if bias else ["x", "w"], ["y"], **attrs)],
              {"x": randn(*x_shape, seed=seed)}, ["y"], inits)


def _conv_transpose(id_, x_shape, w_shape, bias=True, **attrs) -> Case:
  seed = zlib.crc32(id_.encode()) % 1000
  inits = {"w": randn(*w_shape, seed=seed + 1)}
  if bias:
    inits["b"] = randn(w_shape[1] * attrs.get("group", 1), seed=seed + 2)
  return Case(id_, [N("ConvTranspose", ["x", "w", "b"] if bias else ["x", "w"], ["y"], **attrs)],
              {"x": randn(*x_shape, seed=seed)}, ["y"], inits)


def _convolutions() -> list:
  cases = [
      _conv("conv2d-3x3-pad1", (2, 3, 8, 9), (4, 3, 3, 3), pads=[1, 1, 1, 1]),
      _conv("conv2d-groups-dilations-asym-pads-strides", (1, 4, 11, 13), (6, 2, 3, 3),
            group=2, dilations=[2, 1], pads=[1, 0, 2, 3], strides=[2, 3]),
      _conv("conv2d-depthwise-no-bias", (1, 5, 7, 7), (5, 1, 3, 3), bias=False, group=5,
            pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
      _conv("conv2d-1x1-stride2", (1, 6, 8, 8), (4, 6, 1, 1), strides=[2, 2]),
      _conv("conv1d-stride-dilation-pads", (2, 3, 17), (4, 3, 5), strides=[2], pads=[2, 1],
            dilations=[2]),
      _conv("conv3d-pads-strides", (1, 2, 5, 6, 7), (3, 2, 3, 2, 3),
            pads=[1, 0, 1, 0, 1, 2], strides=[1, 2, 2]),
  ]
  for auto_pad in ("SAME_UPPER", "SAME_LOWER", "VALID"):
    # An even kernel with stride 2 on odd and even sizes: SAME pads are odd, so UPPER and LOWER
    # put the extra row on different sides.
    cases.append(_conv(f"conv2d-auto-pad-{auto_pad}-stride2", (1, 2, 9, 10), (3, 2, 4, 4),
                       auto_pad=auto_pad, strides=[2, 2]))
  # (onnxruntime refuses auto_pad SAME with dilations, so none here.)
  cases.append(_conv("conv2d-auto-pad-SAME_LOWER-odd-kernel-strides-1-3", (1, 2, 9, 10),
                     (3, 2, 3, 2), auto_pad="SAME_LOWER", strides=[1, 3]))
  cases += [
      _conv_transpose("convT-stride2-pads-output-padding", (1, 4, 5, 6), (4, 3, 3, 3),
                      strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),
      _conv_transpose("convT-groups-dilations-asym-pads", (1, 4, 5, 5), (4, 3, 3, 3), group=2,
                      dilations=[2, 2], strides=[2, 1], pads=[0, 1, 2, 0]),
      _conv_transpose("convT-stride2-kernel4-no-bias", (2, 3, 4, 5), (3, 2, 4, 4), bias=False,
                      strides=[2, 2], pads=[1, 1, 1, 1]),
      # output_shape sets the total padding; an even total splits evenly...
      _conv_transpose("convT-output-shape-even-total", (1, 2, 4, 4), (2, 3, 3, 3),
                      strides=[2, 2], output_shape=[7, 9]),
      # ... an odd one puts the extra row at the start (spec and onnxruntime: pads begin =
      # total - total // 2 unless auto_pad is SAME_UPPER).
      _conv_transpose("convT-output-shape-odd-total", (1, 2, 4, 4), (2, 3, 3, 3),
                      strides=[2, 2], output_shape=[8, 9]),
      # Kernel 3, stride 2: the SAME total padding is odd, so UPPER and LOWER differ.
      _conv_transpose("convT-auto-pad-SAME_UPPER", (1, 2, 4, 5), (2, 3, 3, 3), strides=[2, 2],
                      auto_pad="SAME_UPPER"),
      _conv_transpose("convT-auto-pad-SAME_UPPER-kernel4", (1, 2, 4, 5), (2, 3, 4, 4),
                      strides=[2, 2], auto_pad="SAME_UPPER"),
      _conv_transpose("convT-auto-pad-SAME_LOWER", (1, 2, 4, 5), (2, 3, 3, 3), strides=[2, 2],
                      auto_pad="SAME_LOWER"),
      _conv_transpose("convT-1d-stride3-output-padding", (2, 3, 6), (3, 2, 4), strides=[3],
                      pads=[1, 2], output_padding=[2]),
  ]
  var = positive(3, seed=40)
  cases.append(Case(
      "batchnorm-epsilon",
      [N("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"], epsilon=1e-3),
       N("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y_default"])],
      {"x": randn(2, 3, 4, 5, seed=41)}, ["y", "y_default"],
      {"scale": randn(3, seed=42), "bias": randn(3, seed=43), "mean": randn(3, seed=44),
       "var": var}))
  return cases


def _pool(id_, op, x_shape, **attrs) -> Case:
  return Case(id_, [N(op, ["x"], ["y"], **attrs)],
              {"x": randn(*x_shape, seed=zlib.crc32(id_.encode()) % 1000)}, ["y"])


# onnxruntime (MLAS) divides every window by the full kernel area when count_include_pad=1, also
# a window ceil_mode adds past the padded input (the ONNX reference evaluator would count only
# the positions inside); the avgpool-ceil-mode-*-count-include-pad-1 graphs pin onnxruntime's
# answer, which the converter follows.


def _pools() -> list:
  cases = [
      _pool("maxpool-3x3-s2-pads", "MaxPool", (1, 2, 9, 10), kernel_shape=[3, 3],
            strides=[2, 2], pads=[1, 1, 1, 1]),
      _pool("maxpool-2x2-ceil-mode", "MaxPool", (1, 2, 7, 9), kernel_shape=[2, 2],
            strides=[2, 2], ceil_mode=1),
      _pool("maxpool-ceil-mode-asym-pads", "MaxPool", (1, 2, 8, 7), kernel_shape=[3, 2],
            strides=[3, 2], pads=[1, 0, 0, 1], ceil_mode=1),
      _pool("maxpool-dilations", "MaxPool", (1, 2, 10, 11), kernel_shape=[2, 3],
            dilations=[2, 2], strides=[1, 2]),
      _pool("maxpool-auto-pad-SAME_UPPER", "MaxPool", (1, 2, 7, 8), kernel_shape=[2, 3],
            strides=[2, 2], auto_pad="SAME_UPPER"),
      _pool("maxpool-1d", "MaxPool", (2, 3, 11), kernel_shape=[3], strides=[2], pads=[1, 1]),
      _pool("global-average-pool", "GlobalAveragePool", (2, 3, 5, 6)),
      _pool("global-max-pool", "GlobalMaxPool", (2, 3, 5, 6)),
  ]
  for include in (0, 1):
    ceil = [
        _pool(f"avgpool-ceil-mode-pads-count-include-pad-{include}", "AveragePool",
              (1, 2, 8, 7), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1,
              count_include_pad=include),
        _pool(f"avgpool-ceil-mode-count-include-pad-{include}", "AveragePool", (1, 2, 7, 9),
              kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1, count_include_pad=include),
    ]
    cases += [
        _pool(f"avgpool-pads-count-include-pad-{include}", "AveragePool", (1, 2, 8, 9),
              kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=include),
        _pool(f"avgpool-asym-pads-count-include-pad-{include}", "AveragePool", (1, 2, 8, 9),
              kernel_shape=[3, 2], strides=[1, 2], pads=[2, 0, 0, 1], count_include_pad=include),
        *ceil,
    ]
  cases.append(_pool("avgpool-auto-pad-SAME_LOWER", "AveragePool", (1, 2, 7, 8),
                     kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_LOWER"))
  return cases


def _reductions() -> list:
  x = randn(2, 3, 4, 5, seed=50)
  small = positive(2, 3, 4, seed=51)  # ReduceProd of values near 1 stays in range
  cases = []
  for keepdims in (0, 1):
    cases.append(Case(
        f"reduce-attr-axes-keepdims-{keepdims}",
        [N("ReduceMean", ["x"], ["mean"], axes=[1, 3], keepdims=keepdims),
         N("ReduceMax", ["x"], ["max"], axes=[-1], keepdims=keepdims),
         N("ReduceMin", ["x"], ["min"], axes=[0, 2], keepdims=keepdims),
         N("ReduceProd", ["p"], ["prod"], axes=[2], keepdims=keepdims),
         N("ReduceSum", ["x", "axes"], ["sum"], keepdims=keepdims)],
        {"x": x, "p": small}, ["mean", "max", "min", "prod", "sum"], {"axes": i64(1, -1)}))
  cases += [
      Case("reduce-all-axes",
           [N("ReduceMean", ["x"], ["mean"]), N("ReduceMax", ["x"], ["max"], keepdims=0),
            N("ReduceMin", ["x"], ["min"]), N("ReduceProd", ["p"], ["prod"], keepdims=0),
            N("ReduceSum", ["x"], ["sum"])],
           {"x": x, "p": small}, ["mean", "max", "min", "prod", "sum"]),
      Case("reducesum-empty-axes-noop",
           [N("ReduceSum", ["x", "axes"], ["same"], noop_with_empty_axes=1)],
           {"x": x}, ["same"], {"axes": np.zeros((0,), np.int64)}),
      # Opset 18 moved `axes` to an input for the other reductions too.
      Case("reducemean-max-axes-input-opset18",
           [N("ReduceMean", ["x", "axes"], ["mean"]),
            N("ReduceMax", ["x", "axes"], ["max"], keepdims=0)],
           {"x": x}, ["mean", "max"], {"axes": i64(0, 2)}, opset=18),
      Case("softmax-axis",
           [N("Softmax", ["x"], ["axis1"], axis=1), N("Softmax", ["x"], ["default"]),
            N("Softmax", ["x"], ["neg"], axis=-2)],
           {"x": x * 3}, ["axis1", "default", "neg"]),
      # Before opset 13, Softmax coerces to 2-D at `axis`: one softmax over axes 1..end.
      Case("softmax-opset11-2d-coercion",
           [N("Softmax", ["x"], ["axis1"], axis=1), N("Softmax", ["x"], ["axis2"], axis=2),
            N("Softmax", ["x"], ["default"])],
           {"x": x * 3}, ["axis1", "axis2", "default"], opset=11),
  ]
  for exclusive, reverse in ((0, 0), (1, 0), (0, 1), (1, 1)):
    cases.append(Case(
        f"cumsum-exclusive-{exclusive}-reverse-{reverse}",
        [N("CumSum", ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse),
         N("CumSum", ["x", "neg_axis"], ["y_neg"], exclusive=exclusive, reverse=reverse)],
        {"x": randn(3, 4, 5, seed=52)}, ["y", "y_neg"],
        {"axis": i64(1)[0], "neg_axis": i64(-1)}))
  return cases


def _shapes() -> list:
  x = randn(2, 3, 4, 5, seed=60)
  return [
      # The shape subgraph of an exported view(n, c, -1): it must fold to constants while
      # tracing, or jax.jit would fail on a traced Reshape target.
      Case("shape-gather-unsqueeze-concat-reshape",
           [N("Shape", ["x"], ["shape"]),
            N("Gather", ["shape", "i0"], ["n"]), N("Gather", ["shape", "i1"], ["c"]),
            N("Unsqueeze", ["n", "ax0"], ["n1"]), N("Unsqueeze", ["c", "ax0"], ["c1"]),
            N("Concat", ["n1", "c1", "minus1"], ["target"], axis=0),
            N("Reshape", ["x", "target"], ["flat"]),
            N("Mul", ["n", "c"], ["nc"]), N("Unsqueeze", ["nc", "ax0"], ["nc1"]),
            N("Concat", ["nc1", "minus1"], ["target2"], axis=0),
            N("Reshape", ["x", "target2"], ["flat2"]),
            N("ConstantOfShape", ["shape"], ["ones"],
              value=numpy_helper.from_array(f32(1.5))),
            N("Mul", ["x", "ones"], ["scaled"]),
            N("Slice", ["shape", "s2", "s4"], ["hw"]), N("Expand", ["b", "hw"], ["b_hw"]),
            N("Add", ["flat", "flat"], ["flat_sum"])],
           {"x": x}, ["shape", "flat", "flat2", "scaled", "b_hw", "flat_sum"],
           {"i0": i64(0)[0], "i1": i64(1)[0], "ax0": i64(0), "minus1": i64(-1),
            "s2": i64(2), "s4": i64(4), "b": randn(1, 5, seed=61)}),
      Case("shape-start-end-opset15",
           [N("Shape", ["x"], ["tail"], start=-2), N("Shape", ["x"], ["mid"], start=1, end=3),
            N("Reshape", ["x", "tail"], ["y"])],
           {"x": randn(1, 1, 4, 5, seed=62)}, ["tail", "mid", "y"], opset=15),
      Case("reshape-zero-and-minus1-size-flatten",
           [N("Reshape", ["x", "target"], ["y"]), N("Size", ["x"], ["size"]),
            N("Flatten", ["x"], ["flat_default"]), N("Flatten", ["x"], ["flat0"], axis=0),
            N("Flatten", ["x"], ["flat_neg"], axis=-1)],
           {"x": x}, ["y", "size", "flat_default", "flat0", "flat_neg"],
           {"target": i64(0, -1, 5)}),
      Case("constant-nodes",
           [N("Constant", [], ["c_tensor"], value=numpy_helper.from_array(randn(4, 5, seed=63))),
            N("Constant", [], ["c_float"], value_float=2.5),
            N("Constant", [], ["c_ints"], value_ints=[6, 20]),
            N("Constant", [], ["c_int"], value_int=3),
            N("Constant", [], ["c_floats"], value_floats=[1.0, -2.0, 0.5, 4.0, 3.0]),
            N("Add", ["x", "c_tensor"], ["added"]), N("Mul", ["x", "c_float"], ["scaled"]),
            N("Reshape", ["x", "c_ints"], ["reshaped"]), N("Mul", ["x", "c_floats"], ["row"])],
           {"x": x}, ["added", "scaled", "reshaped", "c_int", "row"]),
      Case("range-constantofshape",
           [N("Range", ["start", "limit", "delta"], ["r_int"]),
            N("Cast", ["r_int"], ["r_f"], to=TensorProto.FLOAT),
            N("Add", ["x", "r_f"], ["x_plus_range"]),
            N("Range", ["fstart", "flimit", "fdelta"], ["r_float"]),
            N("Range", ["limit", "start", "neg"], ["r_down"]),
            N("Shape", ["x"], ["shape"]),
            N("ConstantOfShape", ["shape"], ["zeros"]),
            N("ConstantOfShape", ["shape"], ["sevens"],
              value=numpy_helper.from_array(i64(7))),
            N("Add", ["x", "zeros"], ["x_plus_zeros"])],
           {"x": x}, ["x_plus_range", "r_float", "r_down", "sevens", "x_plus_zeros"],
           {"start": i64(0)[0], "limit": i64(5)[0], "delta": i64(1)[0], "neg": i64(-2)[0],
            "fstart": f32(0.5)[0], "flimit": f32(3.2)[0], "fdelta": f32(0.7)[0]}),
      Case("expand-tile",
           [N("Expand", ["a", "shape"], ["expanded"]), N("Tile", ["t", "reps"], ["tiled"]),
            N("Expand", ["a", "shape_small"], ["expanded_small"])],
           {"a": randn(3, 1, seed=64), "t": randn(2, 3, seed=65)},
           ["expanded", "tiled", "expanded_small"],
           {"shape": i64(2, 1, 4), "reps": i64(2, 3), "shape_small": i64(1, 1)}),
      Case("transpose-concat",
           [N("Transpose", ["x"], ["perm"], perm=[0, 2, 3, 1]),
            N("Transpose", ["x"], ["reversed"]),
            N("Concat", ["x", "y", "x"], ["cat"], axis=-1),
            N("Concat", ["x", "z"], ["cat1"], axis=1)],
           {"x": x, "y": randn(2, 3, 4, 2, seed=66), "z": randn(2, 1, 4, 5, seed=67)},
           ["perm", "reversed", "cat", "cat1"]),
      Case("split-opset13-sizes-and-equal",
           [N("Split", ["x", "sizes"], ["s0", "s1", "s2"], axis=3),
            N("Split", ["x"], ["e0", "e1"], axis=-2)],
           {"x": randn(2, 3, 4, 6, seed=68)}, ["s0", "s1", "s2", "e0", "e1"],
           {"sizes": i64(2, 3, 1)}),
      Case("split-opset11-attr",
           [N("Split", ["x"], ["s0", "s1"], axis=1, split=[1, 3]),
            N("Split", ["x"], ["e0", "e1", "e2"], axis=2)],
           {"x": randn(2, 4, 6, seed=69)}, ["s0", "s1", "e0", "e1", "e2"], opset=11),
      Case("split-opset18-num-outputs-uneven",
           [N("Split", ["x"], ["u0", "u1", "u2"], axis=1, num_outputs=3)],
           {"x": randn(2, 7, 3, seed=70)}, ["u0", "u1", "u2"], opset=18),
      Case("slice-opset13-negative-steps-int64-bounds",
           [N("Slice", ["x", "st", "en", "ax", "sp"], ["rev"]),
            N("Slice", ["x", "st2", "en2"], ["fwd"]),
            N("Slice", ["x", "st3", "en3", "ax3"], ["tail"]),
            N("Slice", ["x", "st4", "en4", "ax4", "sp4"], ["stride2"])],
           {"x": randn(4, 5, 6, seed=71)}, ["rev", "fwd", "tail", "stride2"],
           {"st": i64(-1, 4), "en": i64(INT64_MIN, 0), "ax": i64(2, -2), "sp": i64(-1, -2),
            "st2": i64(1, 0), "en2": i64(INT64_MAX, -1),
            "st3": i64(-3), "en3": i64(INT64_MAX), "ax3": i64(-1),
            "st4": i64(0, 10), "en4": i64(INT64_MAX, -10), "ax4": i64(0, 1), "sp4": i64(2, -1)}),
      Case("slice-opset9-attrs",
           [N("Slice", ["x"], ["a"], starts=[1, -4], ends=[1000, -1], axes=[0, 2]),
            N("Slice", ["x"], ["b"], starts=[0, 2], ends=[2, INT64_MAX])],
           {"x": randn(4, 5, 6, seed=72)}, ["a", "b"], opset=9),
      Case("squeeze-unsqueeze-opset13",
           [N("Squeeze", ["x", "axes"], ["sq"]), N("Squeeze", ["x"], ["sq_all"]),
            N("Unsqueeze", ["sq_all", "uaxes"], ["unsq"])],
           {"x": randn(1, 3, 1, 4, 1, seed=73)}, ["sq", "sq_all", "unsq"],
           {"axes": i64(2, -1), "uaxes": i64(0, -1)}),
      Case("squeeze-unsqueeze-opset11-attrs",
           [N("Squeeze", ["x"], ["sq"], axes=[0, -1]), N("Squeeze", ["x"], ["sq_all"]),
            N("Unsqueeze", ["sq_all"], ["unsq"], axes=[1, -1])],
           {"x": randn(1, 3, 1, 4, 1, seed=74)}, ["sq", "sq_all", "unsq"], opset=11),
      Case("gather-negative-constant-indices",
           [N("Gather", ["x", "idx"], ["g1"], axis=1), N("Gather", ["x", "scalar"], ["g0"]),
            N("Gather", ["x", "last"], ["g_last"], axis=-1)],
           {"x": randn(4, 5, 6, seed=75)}, ["g1", "g0", "g_last"],
           {"idx": i64(0, -1, 2, -3).reshape(2, 2), "scalar": i64(-1)[0], "last": i64(3, -6)}),
  ]


def _pads() -> list:
  x = randn(1, 2, 4, 5, seed=80)
  cases = [
      Case("pad-opset13-constant-value-and-crop",
           [N("Pad", ["x", "pads", "value"], ["const"]), N("Pad", ["x", "pads"], ["zero"]),
            N("Pad", ["x", "crop"], ["cropped"])],
           {"x": x}, ["const", "zero", "cropped"],
           {"pads": i64(0, 1, 2, 0, 0, 0, 1, 3), "value": f32(0.5)[0],
            "crop": i64(0, 0, -1, 2, 0, 0, 1, -2)}),
      Case("pad-opset13-reflect-edge",
           [N("Pad", ["x", "pads"], ["reflect"], mode="reflect"),
            N("Pad", ["x", "pads"], ["edge"], mode="edge")],
           {"x": x}, ["reflect", "edge"], {"pads": i64(0, 0, 2, 1, 0, 0, 3, 3)}),
      Case("pad-opset10-attrs",
           [N("Pad", ["x"], ["const"], pads=[0, 0, 1, 2, 0, 0, 2, 1], value=-1.5),
            N("Pad", ["x"], ["reflect"], pads=[0, 0, 1, 2, 0, 0, 2, 1], mode="reflect"),
            N("Pad", ["x"], ["edge"], pads=[0, 1, 1, 0, 0, 0, 0, 2], mode="edge")],
           {"x": x}, ["const", "reflect", "edge"], opset=10),
      Case("pad-opset18-axes-input",
           [N("Pad", ["x", "pads", "", "axes"], ["y"], mode="edge")],
           {"x": x}, ["y"], {"pads": i64(1, 2, 3, 0), "axes": i64(-1, 2)}, opset=18),
      Case("pad-opset19-wrap",
           [N("Pad", ["x", "pads"], ["y"], mode="wrap")],
           {"x": x}, ["y"], {"pads": i64(0, 0, 1, 2, 0, 0, 2, 3)}, opset=19),
  ]
  return cases


def _resize(id_, x_shape, mode, scales=None, sizes=None, opset=13, **attrs) -> Case:
  x = randn(*x_shape, seed=zlib.crc32(id_.encode()) % 1000)
  inits = {}
  if opset == 10:
    ins = ["x", "scales"]
    inits["scales"] = np.asarray(scales, np.float32)
  else:
    # Opset 11 needs the roi and scales inputs present (empty) when sizes are given.
    empty = "" if opset >= 13 else "empty"
    if opset < 13:
      inits["empty"] = np.zeros((0,), np.float32)
    if sizes is not None:
      ins = ["x", empty, empty, "sizes"]
      inits["sizes"] = np.asarray(sizes, np.int64)
    else:
      ins = ["x", empty, "scales"]
      inits["scales"] = np.asarray(scales, np.float32)
  return Case(id_, [N("Resize", ins, ["y"], mode=mode, **attrs)], {"x": x}, ["y"], inits,
              opset=opset)


def _resizes() -> list:
  # Scales and sizes whose ratios are exact in float32, so onnxruntime's float32 coordinates and
  # the converter's float64 ones land on the same side of every rounding boundary.
  cases = []
  nearest = (("half_pixel", "round_prefer_floor"), ("asymmetric", "floor"),
             ("half_pixel", "floor"), ("asymmetric", "round_prefer_floor"),
             ("align_corners", "round_prefer_ceil"), ("pytorch_half_pixel", "ceil"),
             ("tf_half_pixel_for_nn", "round_prefer_floor"))
  for coord, nearest_mode in nearest:
    attrs = dict(coordinate_transformation_mode=coord, nearest_mode=nearest_mode)
    cases.append(_resize(f"resize-nearest-{coord}-{nearest_mode}-scales", (1, 2, 4, 6),
                         "nearest", scales=[1, 1, 2.5, 0.5], **attrs))
    cases.append(_resize(f"resize-nearest-{coord}-{nearest_mode}-sizes", (1, 2, 4, 8),
                         "nearest", sizes=[1, 2, 7, 6], **attrs))
  cases.append(_resize("resize-nearest-default-attrs-scale2", (1, 3, 5, 4), "nearest",
                       scales=[1, 1, 2, 2]))
  for coord in ("half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"):
    attrs = dict(coordinate_transformation_mode=coord)
    cases.append(_resize(f"resize-linear-{coord}-scales", (1, 2, 4, 6), "linear",
                         scales=[1, 1, 2, 0.5], **attrs))
    cases.append(_resize(f"resize-linear-{coord}-sizes", (1, 2, 4, 8), "linear",
                         sizes=[1, 2, 5, 6], **attrs))
  cases.append(_resize("resize-linear-pytorch_half_pixel-size1", (1, 2, 4, 6), "linear",
                       sizes=[1, 2, 1, 3], coordinate_transformation_mode="pytorch_half_pixel"))
  cases += [
      _resize("resize-opset11-nearest-sizes-empty-scales", (1, 2, 4, 6), "nearest",
              sizes=[1, 2, 8, 9], opset=11, coordinate_transformation_mode="asymmetric",
              nearest_mode="floor"),
      _resize("resize-opset11-linear-scales", (1, 2, 4, 6), "linear", scales=[1, 1, 2, 1.5],
              opset=11, coordinate_transformation_mode="align_corners"),
      _resize("resize-opset10-nearest-scale2", (1, 2, 4, 6), "nearest", scales=[1, 1, 2, 2],
              opset=10),
      _resize("resize-opset10-linear", (1, 2, 4, 6), "linear", scales=[1, 1, 2, 0.5], opset=10),
      # Non-integer factors tell the nearest rounding apart: onnxruntime's Resize-10 floors
      # upsampled axes and ceils downsampled ones (its "simple" nearest mode, as Upsample).
      _resize("resize-opset10-nearest-scale1.5-up", (1, 2, 4, 6), "nearest",
              scales=[1, 1, 1.5, 2.5], opset=10),
      _resize("resize-opset10-nearest-scale0.75-down", (1, 2, 8, 8), "nearest",
              scales=[1, 1, 0.75, 0.5], opset=10),
  ]
  x = randn(1, 2, 3, 4, seed=90)
  cases += [
      Case("upsample-opset9-nearest",
           [N("Upsample", ["x", "scales"], ["y"], mode="nearest")], {"x": x}, ["y"],
           {"scales": f32(1, 1, 2, 3)}, opset=9),
      Case("upsample-opset9-nearest-scale1.5", [N("Upsample", ["x", "scales"], ["y"])],
           {"x": x}, ["y"], {"scales": f32(1, 1, 1.5, 2.5)}, opset=9),
      Case("upsample-opset9-linear",
           [N("Upsample", ["x", "scales"], ["y"], mode="linear")], {"x": x}, ["y"],
           {"scales": f32(1, 1, 2, 2)}, opset=9),
  ]
  return cases


# Every hand-built graph, in one place: the parity test runs them and the coverage test checks
# that together they use every supported operator.
CASES = (_elementwise() + _linear() + _convolutions() + _pools() + _reductions() + _shapes() +
         _pads() + _resizes())


def _param(case: Case):
  return pytest.param(case, id=case.id)


def assert_close(ours, ref, what: str) -> tuple[float, float]:
  """Shapes equal; floats within RTOL of max(max|ref|, FLOOR); integers and booleans exact.

  Returns (max abs error, max abs error / max(max|ref|, FLOOR)) for floats, (0, 0) otherwise.
  """
  ours = np.asarray(ours)
  assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != onnxruntime's {ref.shape}"
  if ref.dtype.kind in "biu":
    # JAX without x64 returns int64 results as int32: the kind must match, the width need not.
    assert ours.dtype.kind == ref.dtype.kind or {ours.dtype.kind, ref.dtype.kind} <= {"i", "u"}, (
        f"{what}: dtype {ours.dtype} vs onnxruntime's {ref.dtype}")
    np.testing.assert_array_equal(ours, ref, err_msg=what)
    return 0.0, 0.0
  assert ours.dtype.kind == "f", f"{what}: dtype {ours.dtype} vs onnxruntime's {ref.dtype}"
  assert np.isfinite(ref).all(), f"{what}: the reference is not finite (a bad test graph)"
  if ref.size == 0:
    return 0.0, 0.0
  err = float(np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64))))
  scale = max(float(np.max(np.abs(ref))), FLOOR)
  assert err <= RTOL * scale, (
      f"{what}: max|ours - onnxruntime| = {err:.3g} > {RTOL:g} * {scale:.3g}")
  return err, err / scale


def ort_session(model) -> onnxruntime.InferenceSession:
  data = model if isinstance(model, (bytes, str)) else model.SerializeToString()
  options = onnxruntime.SessionOptions()
  options.log_severity_level = 3  # its graph optimizers' warnings about old opsets are noise here
  return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])


# JAX without x64 narrows the int64 graph values to int32 (values checked exactly below).
@pytest.mark.filterwarnings("ignore:Explicitly requested dtype int64")
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_graph_matches_onnxruntime(case):
  model = case.model()
  ref = ort_session(model).run(case.outputs, case.inputs)
  fn = onnx_jax.load(model)
  assert fn.output_names == tuple(case.outputs)
  assert set(fn.input_names) == set(case.inputs)
  # Under jax.jit every shape must be static: a shape subgraph that did not fold would fail here.
  ours = jax.jit(fn.apply)(fn.params, *(case.inputs[n] for n in fn.input_names))
  assert len(ours) == len(ref)
  for name, o, r in zip(case.outputs, ours, ref):
    assert_close(o, r, f"{case.id}: output {name}")


def test_cases_cover_every_supported_operator():
  used = {n.op_type for case in CASES for n in case.nodes}
  supported = set(onnx_jax.SUPPORTED)
  assert not supported - used, f"supported operators no graph here uses: {sorted(supported - used)}"
  assert not used - supported, f"graphs here use unsupported operators: {sorted(used - supported)}"


def test_case_ids_are_unique():
  ids = [c.id for c in CASES]
  assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_float_weights_are_params_and_shape_inputs_constants():
  """Float initializers become `params` (arguments of the jitted function, not baked-in
  constants); an initializer that sets a shape stays a NumPy constant."""
  case = next(c for c in CASES if c.id == "shape-gather-unsqueeze-concat-reshape")
  fn = onnx_jax.load(case.model())
  assert set(fn.params) == {"b"}
  assert {"i0", "i1", "ax0", "minus1", "s2", "s4"} <= set(fn.constants)


# -- load-time errors and the onnxruntime fallback ------------------------------------------------

def _einsum_model() -> onnx.ModelProto:
  graph = helper.make_graph(
      [N("Einsum", ["a", "b"], ["y"], equation="ij,jk->ik")], "einsum",
      [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3])],
      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
      [numpy_helper.from_array(randn(3, 4, seed=100), "b")])
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
  model.ir_version = 8
  return model


def _supported_model() -> onnx.ModelProto:
  return Case("relu", [N("Relu", ["x"], ["y"])], {"x": randn(2, 3, seed=101)}, ["y"]).model()


def _write(tmp_path, name: str, model) -> str:
  path = str(tmp_path / name)
  with open(path, "wb") as f:
    f.write(model if isinstance(model, bytes) else model.SerializeToString())
  return path


def _one_line(e: BaseException) -> str:
  text = str(e)
  assert "\n" not in text.strip() and text.strip(), f"not one line: {text!r}"
  return text


def test_unsupported_operator_is_one_line_naming_it_and_the_file(tmp_path):
  path = _write(tmp_path, "einsum.onnx", _einsum_model())
  with pytest.raises(onnx_jax.UnsupportedOperatorError) as info:
    onnx_jax.load(path)
  assert isinstance(info.value, InputError)
  text = _one_line(info.value)
  assert "Einsum" in text and path in text, text


def test_unsupported_attribute_value_is_one_line(tmp_path):
  case = _resize("resize-cubic", (1, 1, 4, 4), "cubic", scales=[1, 1, 2, 2])
  path = _write(tmp_path, "cubic.onnx", case.model())
  with pytest.raises(onnx_jax.UnsupportedOperatorError) as info:
    onnx_jax.load(path)
  text = _one_line(info.value)
  assert "Resize" in text and "cubic" in text and path in text, text


def test_graph_input_that_sets_a_shape_is_one_line(tmp_path):
  graph = helper.make_graph(
      [N("Reshape", ["x", "shape"], ["y"])], "dynamic-reshape",
      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
       helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
  path = _write(tmp_path, "dynamic.onnx", model)
  with pytest.raises(onnx_jax.UnsupportedOperatorError) as info:
    onnx_jax.load(path)
  text = _one_line(info.value)
  assert "shape" in text and path in text, text


def test_graph_output_without_declared_type_loads():
  graph = helper.make_graph(
      [N("Relu", ["x"], ["y"])], "untyped-output",
      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
      [onnx.ValueInfoProto(name="y")])
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
  model.ir_version = 8
  x = randn(2, 3, seed=103)
  (ref,) = ort_session(model).run(None, {"x": x})
  (ours,) = onnx_jax.load(model)(x)
  assert_close(ours, ref, "untyped output")


def test_non_onnx_file_is_one_line_input_error(tmp_path):
  path = _write(tmp_path, "garbage.onnx", b"this is not an ONNX model \xff\xfe\x00\x01" * 8)
  with pytest.raises(InputError) as info:
    onnx_jax.load(path)
  text = _one_line(info.value)
  assert path in text, text


def test_make_session_falls_back_to_onnxruntime_with_one_line(tmp_path, capsys):
  path = _write(tmp_path, "einsum.onnx", _einsum_model())
  capsys.readouterr()
  session = scrfd.make_session(path, backend="jax")
  err = capsys.readouterr().err
  assert isinstance(session, onnxruntime.InferenceSession)
  lines = err.strip("\n").split("\n")
  assert len(lines) == 1 and "Einsum" in lines[0] and path in lines[0], err
  # The fallback session runs the graph.
  (y,) = session.run(None, {"a": randn(2, 3, seed=102)})
  assert y.shape == (2, 4)


def test_make_session_jax_backend_for_a_supported_graph(tmp_path, capsys):
  path = _write(tmp_path, "relu.onnx", _supported_model())
  session = scrfd.make_session(path, backend="jax")
  assert isinstance(session, onnx_jax.Session)
  assert capsys.readouterr().err == ""
  x = randn(2, 3, seed=101)
  (y,) = session.run(None, {"x": x})
  np.testing.assert_array_equal(y, np.maximum(x, 0))
  assert [v.name for v in session.get_inputs()] == ["x"]
  assert [v.name for v in session.get_outputs()] == ["y"]


def test_make_session_unknown_backend_is_input_error(tmp_path):
  path = _write(tmp_path, "relu.onnx", _supported_model())
  with pytest.raises(InputError) as info:
    scrfd.make_session(path, backend="nope")
  assert "nope" in _one_line(info.value)


# -- the real face models ------------------------------------------------------------------------

DEFAULT_DETECTORS_DIR = os.path.join(GOLDEN_DIR, "detectors_seed0")
DETECTORS_DIR = os.path.abspath(os.environ.get("LP_DETECTORS_DIR", DEFAULT_DETECTORS_DIR))
PHOTOS = sorted(glob.glob(os.path.join(SHARED, "assets", "source", "*.jpg")))


def _detector_models() -> list:
  """The folder's *.onnx names, or one placeholder so the test runs and fails when it has none."""
  names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(DETECTORS_DIR, "*.onnx")))
  return names or ["<no models>"]


def _kind(path: str) -> str:
  """'det' / 'lmk106' / 'lmk203' from the official file name, else from the output count."""
  name = os.path.basename(path)
  known = {"det_10g.onnx": "det", "2d106det.onnx": "lmk106", "landmark.onnx": "lmk203"}
  if name in known:
    return known[name]
  outputs = len(onnx.load(path, load_external_data=False).graph.output)
  if outputs >= 6:
    return "det"
  if outputs in (1, 3):
    return "lmk106" if outputs == 1 else "lmk203"
  pytest.fail(f"{path}: not a face model of the detectors format ({outputs} outputs)")


@pytest.fixture(scope="module")
def faces():
  """[(photo name, BGR image, [(box, 106 landmarks)])] from onnxruntime's pipeline runners.

  Without det_10g / 2d106det in the folder (or without a detection) a centred box and a
  five-point face layout inside it stand in: the crops still come from the real photos."""
  if not PHOTOS:
    pytest.fail(f"no photos in {os.path.join(SHARED, 'assets', 'source')} (put ../shared beside "
                f"the repo or set LP_SHARED)")
  det_path = os.path.join(DETECTORS_DIR, "det_10g.onnx")
  lmk_path = os.path.join(DETECTORS_DIR, "2d106det.onnx")
  detector = scrfd.FaceDetector(det_path) if os.path.exists(det_path) else None
  lmk106 = landmark106.Landmark106(lmk_path) if os.path.exists(lmk_path) else None
  out = []
  for photo in PHOTOS:
    bgr = cv2.imread(photo)
    assert bgr is not None, photo
    boxes = list(detector.detect(bgr).bboxes) if detector is not None else []
    if not boxes:
      h, w = bgr.shape[:2]
      boxes = [np.asarray([w * 0.25, h * 0.2, w * 0.75, h * 0.8], np.float32)]
    per_face = []
    for box in boxes:
      if lmk106 is not None:
        points = lmk106.get(bgr, box)
      else:  # eyes, nose, mouth corners: a layout crop_image accepts
        x1, y1, x2, y2 = (float(v) for v in box)
        layout = np.asarray([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])
        points = (np.asarray([x1, y1]) + layout * [x2 - x1, y2 - y1]).astype(np.float32)
      per_face.append((box, points))
    out.append((os.path.basename(photo), bgr, per_face))
  return out


def _feeds(path: str, faces) -> list:
  """The model's network inputs for every photo (and face), built by the runners' preprocess."""
  kind = _kind(path)
  # The runners open onnxruntime sessions (their default backend): used here for preprocessing.
  if kind == "det":
    runner = scrfd.FaceDetector(path)
    return [runner.preprocess(bgr)[0] for _, bgr, _ in faces]
  if kind == "lmk106":
    runner = landmark106.Landmark106(path)
    return [runner.blob(runner.crop(bgr, box)[0]) for _, bgr, fs in faces for box, _ in fs]
  runner = landmark203.Landmark203(path)
  return [runner.preprocess(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), points)[0]
          for _, bgr, fs in faces for _, points in fs]


@pytest.mark.parametrize("model_name", _detector_models())
def test_face_model_matches_onnxruntime_on_photos(model_name, faces, report_table):
  if not os.path.isdir(DETECTORS_DIR) or model_name == "<no models>":
    hint = ("the default: put ../shared beside the repo, or set LP_DETECTORS_DIR to a folder "
            "with det_10g.onnx, 2d106det.onnx, landmark.onnx"
            if "LP_DETECTORS_DIR" not in os.environ else "the folder LP_DETECTORS_DIR names")
    pytest.fail(f"no *.onnx face models in {DETECTORS_DIR} ({hint})")
  path = os.path.join(DETECTORS_DIR, model_name)
  ours_session = onnx_jax.Session(path)
  ref_session = ort_session(path)
  input_name = ref_session.get_inputs()[0].name
  assert [v.name for v in ours_session.get_inputs()] == [input_name]
  names = [o.name for o in ref_session.get_outputs()]
  assert [v.name for v in ours_session.get_outputs()] == names
  worst = {n: (0.0, 0.0) for n in names}
  feeds = _feeds(path, faces)
  assert feeds, f"{model_name}: no inputs built"
  for i, blob in enumerate(feeds):
    ref = ref_session.run(names, {input_name: blob})
    ours = ours_session.run(names, {input_name: blob})
    for n, o, r in zip(names, ours, ref):
      err, rel = assert_close(o, r, f"{model_name} input {i}: output {n}")
      worst[n] = (max(worst[n][0], err), max(worst[n][1], rel))
  rows = [f"{model_name:<16} {n:<10} {a:>14.3g} {r:>14.3g}" for n, (a, r) in worst.items()]
  table = "\n".join([f"onnx_jax vs onnxruntime on {len(feeds)} photo input(s), {DETECTORS_DIR}",
                     f"{'model':<16} {'output':<10} {'max abs err':>14} {'max rel err':>14}",
                     *rows])
  print(table)
  report_table(table)

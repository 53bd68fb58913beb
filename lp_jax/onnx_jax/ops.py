# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The ONNX operators `lp_jax.onnx_jax` runs: the table (`registry`) filled by the operator modules.

`get(op_type)` returns an operator's function, `SUPPORTED` lists them all, `check_attributes`
says which attribute values the converter refuses at load time.
"""

from lp_jax.onnx_jax import elementwise, nn, resize, tensors  # noqa: F401  (they register)
from lp_jax.onnx_jax.registry import OPS, STATIC_INPUTS, get, np_dtype  # noqa: F401
from lp_jax.onnx_jax.resize import COORDINATE_MODES, RESIZE_MODES


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


SUPPORTED = tuple(sorted(OPS))

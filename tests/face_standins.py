# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A stand-in `pretrained_weights` face-model folder for end-to-end CLI tests.

The official ONNX files cannot be downloaded here. These three graphs have the official input
names, shapes and output layouts and always report one plausible face: SCRFD finds it in the
middle of the detector canvas, 2d106det returns a fixed face layout in its 192 crop, and
landmark.onnx returns a fixed 203-point layout in its 224 crop. The 203 layout is a fixed point
of the official tracker (its box is 1/1.5 of the crop and sits 0.1 crop below the centre, which
the tracker's vy_ratio = -0.1 cancels), so tracking is stable over a video.
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lp_jax.detect import models

STRIDES = (8, 16, 32)


def _model(nodes, inputs, outputs, inits) -> bytes:
  graph = helper.make_graph(nodes, "standin", inputs, outputs, initializer=inits)
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
  onnx.checker.check_model(model)
  return model.SerializeToString()


def _zero_of(x: str, inits: list) -> list:
  """'zero' = 0 * mean(x): ties every output to the input so the graph is well formed."""
  inits.append(numpy_helper.from_array(np.float32(0.0), "zero_k"))
  return [helper.make_node("ReduceMean", [x], ["m"], keepdims=0),
          helper.make_node("Mul", ["m", "zero_k"], ["zero"])]


def _const_out(name: str, value: np.ndarray, inits: list):
  inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name + "_c"))
  node = helper.make_node("Add", [name + "_c", "zero"], [name])
  return node, helper.make_tensor_value_info(name, TensorProto.FLOAT, list(np.shape(value)))


def scrfd(face: bool = True, size: int = 512) -> bytes:
  """det_10g stand-in: one face centred at canvas (224, 256), 192 px wide, score 0.9."""
  inits, outs = [], []
  nodes = _zero_of("input.1", inits)
  for kind in ("score", "bbox", "kps"):
    for stride in STRIDES:
      n = (size // stride) ** 2 * 2
      value = np.zeros((n, {"score": 1, "bbox": 4, "kps": 10}[kind]), np.float32)
      if face and stride == 32:
        row = (8 * (size // stride) + 7) * 2  # grid (7, 8), anchor 0
        value[row] = {"score": [0.9], "bbox": [3, 3, 3, 3],
                      "kps": [-1, -1, 1, -1, 0, 0, -0.5, 1, 0.5, 1]}[kind]
      node, info = _const_out(f"{kind}_{stride}", value, inits)
      nodes.append(node)
      outs.append(info)
  inputs = [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "h", "w"])]
  return _model(nodes, inputs, outs, inits)


def face_layout_106(seed: int = 0) -> np.ndarray:
  """[106, 2] points in [-1, 1] crop units with eyes above the mouth where the crop reads them."""
  rng = np.random.default_rng(seed)
  pts = rng.uniform(-0.4, 0.4, (106, 2))
  pts[[33, 35, 40, 39]] = (-0.2, -0.15)
  pts[[87, 89, 94, 93]] = (0.2, -0.15)
  pts[[52, 61]] = [(-0.1, 0.25), (0.1, 0.25)]
  return pts.astype(np.float32)


def landmark106() -> bytes:
  inits = []
  nodes = _zero_of("data", inits)
  node, info = _const_out("fc1", face_layout_106().reshape(1, 212), inits)
  return _model(nodes + [node], [helper.make_tensor_value_info("data", TensorProto.FLOAT,
                                                               [1, 3, 192, 192])], [info], inits)


def face_layout_203(seed: int = 0) -> np.ndarray:
  """[203, 2] points in [0, 1] crop units: open eyes (ratio 0.3), a slightly open mouth."""
  rng = np.random.default_rng(seed)
  lo, hi = np.array([0.5 - 1 / 3, 0.6 - 1 / 3]), np.array([0.5 + 1 / 3, 0.6 + 1 / 3])
  pts = rng.uniform(lo + 0.02, hi - 0.02, (203, 2))
  pts[[1, 2, 3, 4]] = [lo, (hi[0], lo[1]), (lo[0], hi[1]), hi]  # the box corners
  pts[0], pts[12], pts[6], pts[18] = (0.30, 0.45), (0.40, 0.45), (0.35, 0.435), (0.35, 0.465)
  pts[24], pts[36], pts[30], pts[42] = (0.60, 0.45), (0.70, 0.45), (0.65, 0.435), (0.65, 0.465)
  pts[48], pts[66], pts[90], pts[102] = (0.42, 0.75), (0.58, 0.75), (0.50, 0.74), (0.50, 0.77)
  return pts.astype(np.float32)


def landmark203() -> bytes:
  inits = []
  nodes = _zero_of("input", inits) + [
           helper.make_node("Identity", ["m"], ["out0"]),
           helper.make_node("Identity", ["zero"], ["out1"])]
  node, info = _const_out("out2", face_layout_203().reshape(1, 406), inits)
  outputs = [helper.make_tensor_value_info("out0", TensorProto.FLOAT, []),
             helper.make_tensor_value_info("out1", TensorProto.FLOAT, []), info]
  return _model(nodes + [node], [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                               [1, 3, 224, 224])], outputs, inits)


def write_face_models(root: str, face: bool = True) -> str:
  """A pretrained_weights-like folder with the three stand-in face models; returns root."""
  for rel, data in ((models.DET_FILE, scrfd(face)), (models.LMK106_FILE, landmark106()),
                    (models.LMK203_FILE, landmark203())):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
      f.write(data)
  return root

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""106-point 2-D landmarks (InsightFace `buffalo_l/2d106det.onnx`) with InsightFace's processing.

This mirrors InsightFace's `model_zoo.Landmark.get` for a 2-D model:

* crop: an axis-aligned similarity centred on the detection box centre with scale
  input_size / (1.5 * max(box w, box h)), warped with cv2 bilinear and a black border;
* blob: BGR->RGB, (pixel - mean) / std where (mean, std) is (0, 1) when the graph normalises by
  itself -- InsightFace decides this by the *names* of the first eight graph nodes: one starting
  with "Sub"/"_minus" and one with "Mul"/"_mul" (or a "bn_data" node among the first three) -- and
  (127.5, 128) otherwise;
* decode: the first output row reshaped to (P, 2), (+1) * (input_size // 2), then mapped back to
  the image with the inverse crop affine.

Geometry follows the official dtypes under NumPy 1 (float32 box, float64 affine).
"""

import os
from typing import Optional, Sequence

import cv2
import numpy as np

from lp_jax.detect import scrfd
from lp_jax.errors import InputError
from lp_jax.preprocess import crop as crop_lib


def normalisation_from_graph(graph: "onnx.GraphProto") -> tuple[float, float]:
  """(input_mean, input_std) the way InsightFace infers them from the first graph nodes."""
  find_sub = find_mul = False
  for nid, node in enumerate(graph.node[:8]):
    if node.name.startswith("Sub") or node.name.startswith("_minus"):
      find_sub = True
    if node.name.startswith("Mul") or node.name.startswith("_mul"):
      find_mul = True
    if nid < 3 and node.name == "bn_data":
      find_sub = find_mul = True
  # An exported MXNet model subtracts and scales inside the graph, so it takes raw pixels.
  return (0.0, 1.0) if (find_sub and find_mul) else (127.5, 128.0)


def crop_transform(bbox: np.ndarray, output_size: int) -> np.ndarray:
  """The [2, 3] float64 image->crop affine InsightFace builds around a detection box."""
  bbox = np.asarray(bbox, dtype=np.float32)
  # The official `face_align.transform(img, center, size, size / (max(w, h) * 1.5), 0)` under
  # NumPy 1 (the official pin): the box sums and sides are float32, but dividing or multiplying
  # those float32 scalars by Python numbers widens to float64 there, so the centre, the scale and
  # the scaled centre are float64; skimage then composes the similarity in float64.
  w, h = bbox[2] - bbox[0], bbox[3] - bbox[1]
  cx, cy = float(bbox[2] + bbox[0]) / 2, float(bbox[3] + bbox[1]) / 2
  # A numpy division rather than Python's, so a degenerate box gives inf (numpy semantics, as
  # upstream) instead of raising ZeroDivisionError.
  scale = float(np.float64(output_size) / (np.float64(max(w, h)) * 1.5))
  half = output_size / 2
  return np.array([[scale, 0.0, -(cx * scale) + half],
                   [0.0, scale, -(cy * scale) + half]], dtype=np.float64)


def transform_points(pts: np.ndarray, m: np.ndarray) -> np.ndarray:
  """Applies a [2, 3] (or [3, 3]) affine to [N, 2] points, in float64, returning float32."""
  # Upstream's per-point np.dot goes to BLAS, whose kernel may fuse multiply-adds depending on
  # the CPU; transform_pts rounds each product as the reference environment's kernel does.
  return crop_lib.transform_pts(np.asarray(pts, dtype=np.float64),
                                np.asarray(m, dtype=np.float64)).astype(np.float32)


class Landmark106:
  """InsightFace 2-D landmark model (2d106det) over an onnxruntime session."""

  def __init__(self, model: scrfd.ModelSource, providers: Optional[Sequence[str]] = None,
               backend: str = "onnxruntime", device=None):
    """Opens the model and infers its input normalisation from the graph.

    Args:
      model: path to 2d106det.onnx (or the serialized model).
      providers: onnxruntime providers (default CPU).
      backend, device: see `scrfd.make_session`.
    """
    # Imported here: runs without the face models (the demo model's) never pay for onnx.
    import onnx  # pylint: disable=import-outside-toplevel
    if isinstance(model, bytes):
      graph = onnx.load_from_string(model).graph
    else:
      graph = onnx.load(os.fspath(model), load_external_data=False).graph
    self.input_mean, self.input_std = normalisation_from_graph(graph)
    self.session = scrfd.make_session(model, providers, backend, device)
    inp = self.session.get_inputs()[0]
    self.input_name = inp.name
    self.input_size = (int(inp.shape[3]), int(inp.shape[2]))  # (width, height)
    outputs = self.session.get_outputs()
    if len(outputs) != 1:
      raise InputError(f"landmark model must have one output, found {len(outputs)}")
    self.output_name = outputs[0].name
    out_dim = outputs[0].shape[1]
    if out_dim == 3309:
      raise InputError("3-D 68-point landmark models (1k3d68) are not supported; use 2d106det")
    self.num_points = int(out_dim) // 2 if isinstance(out_dim, int) else 106

  def crop(self, img_bgr: np.ndarray, bbox: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(crop [S, S, 3], image->crop affine [2, 3]) around a detection box."""
    size = self.input_size[0]
    m = crop_transform(bbox, size)
    return cv2.warpAffine(img_bgr, m, (size, size), borderValue=0.0), m

  def blob(self, crop_bgr: np.ndarray) -> np.ndarray:
    """[1, 3, S, S] float32 network input from a BGR crop."""
    x = crop_bgr[..., ::-1].astype(np.float32)
    # Same operation order as cv2.dnn.blobFromImage: subtract the mean, then scale.
    x = (x - np.float32(self.input_mean)) * np.float32(1.0 / self.input_std)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

  def get(self, img_bgr: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    """[P, 2] float32 landmarks (P = 106) in image pixels for one detection box.

    Args:
      img_bgr: [h, w, 3] uint8 BGR image (the one given to the detector).
      bbox: (x1, y1, x2, y2) detection box.
    """
    crop, m = self.crop(img_bgr, bbox)
    out = self.session.run([self.output_name], {self.input_name: self.blob(crop)})[0]
    pred = np.asarray(out[0], dtype=np.float32).reshape(-1, 2)[-self.num_points:]
    pred = (pred + 1) * (self.input_size[0] // 2)
    return transform_points(pred, cv2.invertAffineTransform(m))

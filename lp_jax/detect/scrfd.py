# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""SCRFD face detector (InsightFace `buffalo_l/det_10g.onnx`) with InsightFace's processing.

LivePortrait detects faces through InsightFace's `RetinaFace` class (which is what InsightFace
routes every model with at least five outputs to) prepared with `det_size=(512, 512)`,
`det_thresh=crop_cfg.det_thresh` and NMS IoU 0.4, then sorts the faces with its own
`sort_by_direction`. This module reproduces that chain on top of an onnxruntime session:

* preprocessing: aspect-preserving resize (cv2 default bilinear) into a zero canvas of the
  detector's input size, aligned top-left; blob = (BGR->RGB image - 127.5) / 128, NCHW;
* decoding: one score / box / keypoint triple per stride; outputs are grouped by kind
  (all score maps, then all box maps, then all keypoint maps), each ordered by stride;
  rows are (y, x, anchor) in row-major order with anchor fastest; anchor centres are
  (x, y) * stride and the distance predictions are in stride units;
* selection: score >= threshold, boxes sorted by score, greedy NMS with the "+1" pixel area
  convention, optional `max_face_num` selection by area minus twice the squared offset from the
  image centre, then the `direction` ordering.

The arithmetic keeps InsightFace's float32 dtypes so boxes match the official ones bit for bit on
the same ONNX outputs.
"""

import dataclasses
import os
import sys
from typing import Optional, Sequence, Union

import cv2
import numpy as np

from lp_jax.errors import InputError

ModelSource = Union[str, os.PathLike, bytes]

DIRECTIONS = ("large-small", "small-large", "left-right", "right-left", "top-bottom", "bottom-top",
              "distance-from-retarget-face")

# (strides, anchors per location, has keypoints) for each output count InsightFace understands.
# det_10g has 9 outputs: strides 8/16/32, 2 anchors, 5 keypoints.
_LAYOUTS = {
    6: ((8, 16, 32), 2, False),
    9: ((8, 16, 32), 2, True),
    10: ((8, 16, 32, 64, 128), 1, False),
    15: ((8, 16, 32, 64, 128), 1, True),
}

DEFAULT_DET_SIZE = (512, 512)  # (width, height); what LivePortrait's Cropper prepares with.
DEFAULT_DET_THRESH = 0.15  # the inference CLI default (CropConfig alone would say 0.1).
DEFAULT_NMS_THRESH = 0.4
# How the face models run: their graphs as jitted JAX functions on the networks' device, or
# onnxruntime on the host CPU (the official way).
BACKENDS = ("jax", "onnxruntime")
DEFAULT_BACKEND = "jax"


def make_session(model: ModelSource, providers: Optional[Sequence[str]] = None,
                 backend: str = "onnxruntime", device=None):
  """A session for a model path or serialized model: onnxruntime (CPU unless `providers` say
  otherwise) or, with backend 'jax', the graph as a jitted JAX function on `device`.

  A graph the JAX converter cannot run prints one line naming the operator and runs with
  onnxruntime instead.
  """
  if isinstance(model, os.PathLike):
    model = os.fspath(model)
  if backend not in BACKENDS:
    raise InputError(f"--face_backend {backend!r}: expected one of {', '.join(BACKENDS)}")
  if backend == "jax":
    # Imported here: the onnxruntime path, and the processes that only use it, never load JAX.
    from lp_jax import onnx_jax  # pylint: disable=g-import-not-at-top
    try:
      return onnx_jax.Session(model, device=device)
    except onnx_jax.UnsupportedOperatorError as e:
      print(f"{e}; running it with onnxruntime", file=sys.stderr, flush=True)
  # Imported here: runs without the face models (the demo model's) never pay for it.
  import onnxruntime  # pylint: disable=import-outside-toplevel
  return onnxruntime.InferenceSession(model, providers=list(providers or ["CPUExecutionProvider"]))


@dataclasses.dataclass(frozen=True)
class Detections:
  """Detected faces in original-image pixels, in the requested order.

  Attributes:
    bboxes: [N, 4] float32 (x1, y1, x2, y2).
    scores: [N] float32 detection scores.
    kps: [N, 5, 2] float32 keypoints (eyes, nose, mouth corners), or None for models without.
  """
  bboxes: np.ndarray
  scores: np.ndarray
  kps: Optional[np.ndarray]

  def __len__(self) -> int:
    return int(self.bboxes.shape[0])


def distance2bbox(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
  """Boxes from anchor centres [K, 2] and (left, top, right, bottom) distances [K, 4]."""
  return np.stack([points[:, 0] - distance[:, 0], points[:, 1] - distance[:, 1],
                   points[:, 0] + distance[:, 2], points[:, 1] + distance[:, 3]], axis=-1)


def distance2kps(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
  """Keypoints [K, P, 2] from anchor centres [K, 2] and (dx, dy) offsets [K, 2P]."""
  offsets = distance.reshape(distance.shape[0], distance.shape[1] // 2, 2)
  return points[:, None, :] + offsets


def anchor_centers(height: int, width: int, stride: int, num_anchors: int) -> np.ndarray:
  """[height * width * num_anchors, 2] (x, y) centres, row-major with the anchor index fastest."""
  ys, xs = np.mgrid[:height, :width]
  centers = (np.stack([xs, ys], axis=-1).astype(np.float32) * stride).reshape(-1, 2)
  return np.repeat(centers, num_anchors, axis=0)


def nms(dets: np.ndarray, thresh: float) -> list:
  """Greedy NMS over [N, 5] (box, score) rows; InsightFace's inclusive "+1" pixel areas."""
  x1, y1, x2, y2, scores = (dets[:, i] for i in range(5))
  areas = (x2 - x1 + 1) * (y2 - y1 + 1)
  order = scores.argsort()[::-1]
  keep = []
  while order.size > 0:
    i = order[0]
    keep.append(i)
    rest = order[1:]
    w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
    h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
    inter = w * h
    iou = inter / (areas[i] + areas[rest] - inter)
    order = rest[iou <= thresh]
  return keep


def sort_order(bboxes: np.ndarray, direction: str = "large-small",
               face_center: Optional[Sequence[float]] = None) -> list:
  """Indices of `bboxes` in LivePortrait's `sort_by_direction` order (a stable sort).

  Args:
    bboxes: [N, 4] boxes.
    direction: one of `DIRECTIONS`.
    face_center: (x, y) reference point, required for 'distance-from-retarget-face' (the
      official code never sets it and would crash; here the caller may supply it).

  Returns:
    A list of row indices.

  Raises:
    ValueError: unknown direction, or 'distance-from-retarget-face' without a face_center.
  """
  n = bboxes.shape[0]
  area = lambda i: (bboxes[i, 2] - bboxes[i, 0]) * (bboxes[i, 3] - bboxes[i, 1])
  if direction == "left-right":
    return sorted(range(n), key=lambda i: bboxes[i, 0])
  if direction == "right-left":
    return sorted(range(n), key=lambda i: bboxes[i, 0], reverse=True)
  if direction == "top-bottom":
    return sorted(range(n), key=lambda i: bboxes[i, 1])
  if direction == "bottom-top":
    return sorted(range(n), key=lambda i: bboxes[i, 1], reverse=True)
  if direction == "small-large":
    return sorted(range(n), key=area)
  if direction == "large-small":
    return sorted(range(n), key=area, reverse=True)
  if direction == "distance-from-retarget-face":
    check_direction(direction, face_center)
    cx, cy = float(face_center[0]), float(face_center[1])
    # float64 like numpy 1.x evaluates the official key, so near-ties break the same way.
    return sorted(range(n), key=lambda i: ((float(bboxes[i, 2] + bboxes[i, 0]) / 2 - cx) ** 2 + (
        float(bboxes[i, 3] + bboxes[i, 1]) / 2 - cy) ** 2) ** 0.5)
  check_direction(direction, face_center)
  return list(range(n))


def check_direction(direction: str, face_center: Optional[Sequence[float]] = None) -> None:
  """Raises ValueError for a direction `sort_order` cannot apply."""
  # The official code silently keeps the detector order for an unknown name; a typo would then
  # pick a different face without warning, so it is refused instead.
  if direction not in DIRECTIONS:
    raise ValueError(f"unknown face direction {direction!r}; expected one of "
                     f"{', '.join(DIRECTIONS)}")
  if direction == "distance-from-retarget-face" and face_center is None:
    raise ValueError("direction 'distance-from-retarget-face' needs face_center=(x, y)")


class FaceDetector:
  """SCRFD detector over an onnxruntime session, InsightFace `RetinaFace.detect` semantics."""

  def __init__(self, model: ModelSource, det_thresh: float = DEFAULT_DET_THRESH,
               nms_thresh: float = DEFAULT_NMS_THRESH,
               det_size: Sequence[int] = DEFAULT_DET_SIZE,
               providers: Optional[Sequence[str]] = None, backend: str = "onnxruntime",
               device=None):
    """Opens the model.

    Args:
      model: path to det_10g.onnx (or the serialized model).
      det_thresh: score threshold (kept when score >= det_thresh).
      nms_thresh: NMS IoU threshold.
      det_size: (width, height) of the input canvas; a model with a fixed input size overrides
        it, as InsightFace does.
      providers: onnxruntime providers (default CPU).
      backend, device: see `make_session`.
    """
    self.session = make_session(model, providers, backend, device)
    self.det_thresh = float(det_thresh)
    self.nms_thresh = float(nms_thresh)
    inp = self.session.get_inputs()[0]
    self.input_name = inp.name
    if len(inp.shape) == 4 and all(isinstance(d, int) for d in inp.shape[2:4]):
      self.input_size = (int(inp.shape[3]), int(inp.shape[2]))
    else:
      self.input_size = (int(det_size[0]), int(det_size[1]))
    self.output_names = [o.name for o in self.session.get_outputs()]
    if len(self.output_names) not in _LAYOUTS:
      raise InputError(f"face detector with {len(self.output_names)} outputs is not an "
                       f"InsightFace SCRFD/RetinaFace model (expected 6, 9, 10 or 15)")
    self.strides, self.num_anchors, self.use_kps = _LAYOUTS[len(self.output_names)]
    self._centers = {}

  def preprocess(self, img_bgr: np.ndarray) -> tuple[np.ndarray, float]:
    """(blob [1, 3, H, W] float32, det_scale) for a uint8 BGR image [h, w, 3]."""
    if img_bgr.ndim != 3 or img_bgr.shape[2] != 3:
      raise ValueError(f"expected an HxWx3 image, got shape {img_bgr.shape}")
    in_w, in_h = self.input_size
    h, w = img_bgr.shape[:2]
    if h / w > in_h / in_w:
      new_h = in_h
      new_w = int(new_h / (h / w))
    else:
      new_w = in_w
      new_h = int(new_w * (h / w))
    det_scale = new_h / h
    canvas = np.zeros((in_h, in_w, 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(img_bgr, (new_w, new_h))
    # cv2.dnn.blobFromImage(..., 1/128, mean 127.5, swapRB=True); both steps are exact in float32.
    blob = (canvas[..., ::-1].astype(np.float32) - np.float32(127.5)) * np.float32(1.0 / 128.0)
    return np.ascontiguousarray(blob.transpose(2, 0, 1)[None]), det_scale

  def _centers_for(self, height: int, width: int, stride: int) -> np.ndarray:
    key = (height, width, stride)
    if key not in self._centers:
      self._centers[key] = anchor_centers(height, width, stride, self.num_anchors)
    return self._centers[key]

  def decode(self, outputs: Sequence[np.ndarray], input_hw: tuple[int, int]):
    """Per-anchor decoding of the raw outputs in network-input pixels.

    Args:
      outputs: the session's outputs in order (scores by stride, boxes by stride, kps by stride),
        each [K, C] or with a leading batch of 1.
      input_hw: (height, width) of the blob.

    Returns:
      (scores [M, 1], bboxes [M, 4], kps [M, 5, 2] or None) for the anchors above det_thresh,
      concatenated over strides.
    """
    outs = [o[0] if o.ndim == 3 else o for o in outputs]  # batched exports carry a leading 1
    fmc = len(self.strides)
    scores_all, bboxes_all, kps_all = [], [], []
    for idx, stride in enumerate(self.strides):
      centers = self._centers_for(input_hw[0] // stride, input_hw[1] // stride, stride)
      scores = outs[idx].reshape(centers.shape[0], -1)
      pos = np.where(scores >= self.det_thresh)[0]
      scores_all.append(scores[pos])
      bbox_dist = outs[idx + fmc].reshape(centers.shape[0], 4)[pos] * stride
      bboxes_all.append(distance2bbox(centers[pos], bbox_dist))
      if self.use_kps:
        kps_dist = outs[idx + 2 * fmc].reshape(centers.shape[0], -1)[pos] * stride
        kps_all.append(distance2kps(centers[pos], kps_dist))
    kps = np.concatenate(kps_all) if self.use_kps else None
    return np.concatenate(scores_all), np.concatenate(bboxes_all), kps

  def detect(self, img_bgr: np.ndarray, max_face_num: int = 0, direction: str = "large-small",
             face_center: Optional[Sequence[float]] = None) -> Detections:
    """Faces in a uint8 BGR image, ordered by `direction`.

    Args:
      img_bgr: [h, w, 3] uint8 BGR image (LivePortrait converts RGB frames to BGR first).
      max_face_num: keep at most this many (0 = all), chosen like InsightFace: largest area
        minus twice the squared distance of the box centre from the image centre.
      direction: ordering, one of `DIRECTIONS`.
      face_center: reference (x, y) for 'distance-from-retarget-face'.

    Returns:
      `Detections` in original-image pixels.
    """
    check_direction(direction, face_center)  # fail before spending time on inference
    blob, det_scale = self.preprocess(img_bgr)
    outputs = self.session.run(self.output_names, {self.input_name: blob})
    scores, bboxes, kps = self.decode(outputs, blob.shape[2:4])

    order = scores.ravel().argsort()[::-1]
    pre_det = np.hstack((bboxes / det_scale, scores)).astype(np.float32, copy=False)[order]
    keep = nms(pre_det, self.nms_thresh)
    det = pre_det[keep]
    if kps is not None:
      kps = (kps / det_scale)[order][keep]

    if 0 < max_face_num < det.shape[0]:
      area = (det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1])
      center_y, center_x = img_bgr.shape[0] // 2, img_bgr.shape[1] // 2
      offsets = np.vstack([(det[:, 0] + det[:, 2]) / 2 - center_x,
                           (det[:, 1] + det[:, 3]) / 2 - center_y])
      values = area - np.sum(np.power(offsets, 2.0), 0) * 2.0
      pick = np.argsort(values)[::-1][:max_face_num]
      det = det[pick]
      if kps is not None:
        kps = kps[pick]

    final = sort_order(det[:, :4], direction, face_center)
    det = det[final].reshape(-1, 5)
    if kps is not None:
      kps = kps[final].reshape(-1, kps.shape[1], 2)
    return Detections(bboxes=np.ascontiguousarray(det[:, :4]),
                      scores=np.ascontiguousarray(det[:, 4]), kps=kps)

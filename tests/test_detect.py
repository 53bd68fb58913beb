# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Glue tests for the face detector and landmark models with tiny stand-in ONNX graphs.

The official ONNX files are not available here, so each test builds a graph with the official
input name / shape and output layout whose outputs are planted constants. Every graph also checks
what it is fed: it compares the per-channel means of its input with the means of the blob the
official preprocessing produces (computed here independently with cv2) and adds GAIN times the
mismatch to its outputs, so a wrong resize, crop, channel order or normalisation moves the decoded
result far from the planted one.
"""

import os

import cv2
import numpy as np
import onnx
from onnx import helper
from onnx import numpy_helper
from onnx import TensorProto
import pytest

from conftest import SHARED
from lp_jax.detect import landmark106
from lp_jax.detect import landmark203
from lp_jax.detect import models
from lp_jax.detect import scrfd
from lp_jax.preprocess import crop as crop_lib

S0 = os.path.join(SHARED, "assets", "source", "s0.jpg")

GAIN = 1.0  # output shift per unit of input-mean mismatch (float error is a few 1e-6)
STRIDES = (8, 16, 32)


@pytest.fixture(scope="module")
def img_bgr():
  img = cv2.imread(S0)
  if img is None:
    pytest.fail(f"{S0} not found (set LP_SHARED or put ../shared beside the repo)")
  return img


# ---------------------------------------------------------------------------------------------
# Graph building.


def _serialize(nodes, inputs, outputs, inits) -> bytes:
  graph = helper.make_graph(nodes, "fake", inputs, outputs, initializer=inits)
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
  onnx.checker.check_model(model)
  return model.SerializeToString()


def _input_check_nodes(x: str, m_ref: np.ndarray, reduce_axes, inits: list) -> list:
  """Nodes computing 'gain' = GAIN * sum|channel means of x - m_ref| and 'zero' = 0 * that.

  No node is named like InsightFace's Sub/Mul markers, so these never change its mean/std choice.
  """
  inits += [numpy_helper.from_array(np.asarray(m_ref, np.float32), "m_ref"),
            numpy_helper.from_array(np.float32(GAIN), "gain_k"),
            numpy_helper.from_array(np.float32(0.0), "zero_k")]
  return [
      helper.make_node("ReduceMean", [x], ["cm"], name="channel_mean", axes=reduce_axes,
                       keepdims=0),
      helper.make_node("Sub", ["cm", "m_ref"], ["d"], name="diff"),
      helper.make_node("Abs", ["d"], ["ad"], name="abs"),
      helper.make_node("ReduceSum", ["ad"], ["err"], name="err_sum", keepdims=0),
      helper.make_node("Mul", ["err", "gain_k"], ["gain"], name="gain"),
      helper.make_node("Mul", ["err", "zero_k"], ["zero"], name="zero"),
  ]


def _plus(name: str, const: np.ndarray, addend: str, inits: list) -> helper.NodeProto:
  inits.append(numpy_helper.from_array(np.asarray(const, np.float32), name + "_c"))
  return helper.make_node("Add", [name + "_c", addend], [name], name="add_" + name)


def fake_scrfd(planted: dict, m_ref: np.ndarray, size: int = 512) -> bytes:
  """det_10g stand-in: input 'input.1' [1, 3, ?, ?]; 9 outputs (scores, boxes, kps by stride).

  Args:
    planted: {(stride, gx, gy, anchor): (score, (l, t, r, b), kps [5, 2])}, distances in
      stride units like the real head.
    m_ref: expected per-channel blob means.
  """
  maps = {}
  for stride in STRIDES:
    n = (size // stride) ** 2 * 2
    maps[stride] = [np.zeros((n, 1)), np.zeros((n, 4)), np.zeros((n, 10))]
  for (stride, gx, gy, anchor), (score, dist, kps) in planted.items():
    row = (gy * (size // stride) + gx) * 2 + anchor
    maps[stride][0][row] = score
    maps[stride][1][row] = dist
    maps[stride][2][row] = np.asarray(kps).ravel()
  inits = []
  nodes = _input_check_nodes("input.1", m_ref, [0, 2, 3], inits)
  outputs = []
  for kind, addend, cols in ((0, "gain", 1), (1, "zero", 4), (2, "zero", 10)):
    for stride in STRIDES:
      name = f"{('score', 'bbox', 'kps')[kind]}_{stride}"
      nodes.append(_plus(name, maps[stride][kind], addend, inits))
      outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                   [maps[stride][kind].shape[0], cols]))
  inputs = [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "h", "w"])]
  return _serialize(nodes, inputs, outputs, inits)


def fake_2d106(planted: np.ndarray, m_ref: np.ndarray, normalises_inside: bool) -> bytes:
  """2d106det stand-in: input 'data' [1, 3, 192, 192], output 'fc1' [1, 212].

  With normalises_inside the graph starts with nodes named 'Sub_0' / 'Mul_1' that apply
  (x - 127.5) / 128 itself (an exported MXNet model), so it expects raw pixels; otherwise it
  expects the normalised blob. Either way m_ref are the normalised RGB means.
  """
  inits, nodes = [], []
  x = "data"
  if normalises_inside:
    inits += [numpy_helper.from_array(np.float32(127.5), "mean"),
              numpy_helper.from_array(np.float32(1 / 128), "inv_std")]
    nodes += [helper.make_node("Sub", ["data", "mean"], ["centred"], name="Sub_0"),
              helper.make_node("Mul", ["centred", "inv_std"], ["normed"], name="Mul_1")]
    x = "normed"
  nodes += _input_check_nodes(x, m_ref, [0, 2, 3], inits)
  nodes.append(_plus("fc1", np.asarray(planted).reshape(1, 212), "gain", inits))
  return _serialize(nodes, [helper.make_tensor_value_info("data", TensorProto.FLOAT,
                                                          [1, 3, 192, 192])],
                    [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 212])], inits)


def fake_landmark203(planted_norm: np.ndarray, m_ref: np.ndarray | None) -> bytes:
  """landmark.onnx stand-in: input 'input' [1, 3, 224, 224]; three outputs, the third [1, 406]
  holding planted normalised points (input check off when m_ref is None)."""
  inits = []
  nodes = _input_check_nodes("input", np.zeros(3) if m_ref is None else m_ref, [0, 2, 3], inits)
  # Outputs 0 and 1 stand for the model's other heads; their values are unused.
  nodes.append(helper.make_node("Identity", ["cm"], ["out0"], name="out0"))
  nodes.append(helper.make_node("Identity", ["err"], ["out1"], name="out1"))
  nodes.append(_plus("out2", np.asarray(planted_norm).reshape(1, -1),
                     "zero" if m_ref is None else "gain", inits))
  outputs = [helper.make_tensor_value_info("out0", TensorProto.FLOAT, [3]),
             helper.make_tensor_value_info("out1", TensorProto.FLOAT, []),
             helper.make_tensor_value_info("out2", TensorProto.FLOAT, [1, 406])]
  return _serialize(nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                          [1, 3, 224, 224])], outputs, inits)


# ---------------------------------------------------------------------------------------------
# Reference preprocessing, written from the official code's calls (not from the module).


def det_blob_reference(img_bgr):
  """(blob, det_scale) as InsightFace RetinaFace.detect builds them for det_size 512."""
  h, w = img_bgr.shape[:2]
  if h / w > 1.0:
    new_h, new_w = 512, int(512 / (h / w))
  else:
    new_w, new_h = 512, int(512 * (h / w))
  canvas = np.zeros((512, 512, 3), np.uint8)
  canvas[:new_h, :new_w] = cv2.resize(img_bgr, (new_w, new_h))
  blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128, (512, 512), (127.5, 127.5, 127.5), swapRB=True)
  return blob, new_h / h


def face_points(center, size, n, angle_deg, seed, layout):
  """A plausible [n, 2] landmark set: random points in a face box, eyes above the mouth at the
  indices the crop reads (layout 106 or 203), rotated by angle_deg about the centre."""
  rng = np.random.default_rng(seed)
  pts = rng.uniform(-0.4, 0.4, (n, 2)) * size
  left, right, lips = {106: ((33, 35, 40, 39), (87, 89, 94, 93), (52, 61)),
                       203: ((0, 6, 12, 18), (24, 30, 36, 42), (48, 66))}[layout]
  pts[list(left)] = (-0.2 * size, -0.15 * size) + rng.uniform(-2, 2, (4, 2))
  pts[list(right)] = (0.2 * size, -0.15 * size) + rng.uniform(-2, 2, (4, 2))
  pts[list(lips)] = [(-0.1 * size, 0.2 * size), (0.1 * size, 0.2 * size)]
  t = np.deg2rad(angle_deg)
  rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
  return (pts @ rot.T + center).astype(np.float32)


def affine(pts, m):
  m = np.asarray(m, np.float64)
  return np.asarray(pts, np.float64) @ m[:2, :2].T + m[:2, 2]


# ---------------------------------------------------------------------------------------------
# SCRFD.

# Canvas-space plants (s0.jpg is 704x600, so the canvas holds it at 436x512, det_scale 512/704).
KPS_OFF = np.array([[-1, -1], [1, -1], [0, 0], [-0.5, 1], [0.5, 1]], np.float32)
FACE_A = (32, 7, 8, 0)  # large face, centre (224, 256)
FACE_B = (8, 40, 20, 1)  # small face, centre (320, 160), higher score
FACE_A_DUP = (16, 14, 16, 1)  # same face as A seen at stride 16, lower score: NMS removes it
FACE_LOW = (16, 5, 26, 0)  # below the default threshold
PLANTS = {
    FACE_A: (0.80, (3, 4, 3, 5), KPS_OFF),
    FACE_B: (0.95, (4, 5, 4, 6), KPS_OFF),
    FACE_A_DUP: (0.60, (6, 8, 6, 9.5), KPS_OFF * 2),
    FACE_LOW: (0.10, (2, 2, 2, 2), KPS_OFF),
}


def planted_face(key, det_scale):
  """(bbox [4], score, kps [5, 2]) in original pixels for a plant."""
  stride, gx, gy, _ = key
  score, (l, t, r, b), kps = PLANTS[key]
  cx, cy = gx * stride, gy * stride
  box = np.array([cx - l * stride, cy - t * stride, cx + r * stride, cy + b * stride])
  return box / det_scale, score, (np.array([cx, cy]) + np.asarray(kps) * stride) / det_scale


@pytest.fixture(scope="module")
def det_model(img_bgr):
  blob, _ = det_blob_reference(img_bgr)
  return fake_scrfd(PLANTS, blob.mean(axis=(0, 2, 3)))


def test_detector_blob_matches_insightface(det_model, img_bgr):
  det = scrfd.FaceDetector(det_model)
  assert det.input_size == (512, 512) and det.det_thresh == 0.15 and det.nms_thresh == 0.4
  for img in (img_bgr, np.ascontiguousarray(img_bgr.transpose(1, 0, 2))):  # tall and wide
    blob, det_scale = det.preprocess(img)
    ref_blob, ref_scale = det_blob_reference(img)
    np.testing.assert_array_equal(blob, ref_blob)
    assert det_scale == ref_scale


def test_anchor_layout():
  centers = scrfd.anchor_centers(2, 3, 16, 2)
  np.testing.assert_array_equal(centers[:6], [[0, 0], [0, 0], [16, 0], [16, 0], [32, 0], [32, 0]])
  np.testing.assert_array_equal(centers[6], [0, 16])


def test_detector_decodes_planted_faces(det_model, img_bgr):
  det = scrfd.FaceDetector(det_model)
  out = det.detect(img_bgr)
  det_scale = 512 / 704
  assert len(out) == 2  # the duplicate is suppressed, the 0.10 face is under 0.15
  for i, key in enumerate((FACE_A, FACE_B)):  # large-small: A first despite its lower score
    box, score, kps = planted_face(key, det_scale)
    np.testing.assert_allclose(out.bboxes[i], box, rtol=1e-6)
    np.testing.assert_allclose(out.scores[i], score, atol=2e-3)
    np.testing.assert_allclose(out.kps[i], kps, rtol=1e-6)
  assert out.bboxes.shape == (2, 4) and out.scores.shape == (2,) and out.kps.shape == (2, 5, 2)
  assert out.bboxes.dtype == np.float32


def test_detector_threshold_is_configurable(det_model, img_bgr):
  out = scrfd.FaceDetector(det_model, det_thresh=0.05).detect(img_bgr)
  assert len(out) == 3
  box, _, _ = planted_face(FACE_LOW, 512 / 704)
  np.testing.assert_allclose(out.bboxes[2], box, rtol=1e-6)  # smallest last
  assert len(scrfd.FaceDetector(det_model, det_thresh=0.9).detect(img_bgr)) == 1


def test_nms_threshold(det_model, img_bgr):
  # With NMS off the duplicate of A survives as a third face.
  out = scrfd.FaceDetector(det_model, nms_thresh=1.0).detect(img_bgr, direction="top-bottom")
  assert len(out) == 3


@pytest.mark.parametrize("direction,expected", [
    ("large-small", "AB"), ("small-large", "BA"), ("left-right", "AB"), ("right-left", "BA"),
    ("top-bottom", "BA"), ("bottom-top", "AB")])
def test_detector_directions(det_model, img_bgr, direction, expected):
  out = scrfd.FaceDetector(det_model).detect(img_bgr, direction=direction)
  first = planted_face({"A": FACE_A, "B": FACE_B}[expected[0]], 512 / 704)[0]
  np.testing.assert_allclose(out.bboxes[0], first, rtol=1e-6)


def test_detector_distance_direction_and_errors(det_model, img_bgr):
  det = scrfd.FaceDetector(det_model)
  box_b = planted_face(FACE_B, 512 / 704)[0]
  out = det.detect(img_bgr, direction="distance-from-retarget-face",
                   face_center=((box_b[0] + box_b[2]) / 2, (box_b[1] + box_b[3]) / 2))
  np.testing.assert_allclose(out.bboxes[0], box_b, rtol=1e-6)
  with pytest.raises(ValueError, match="face_center"):
    det.detect(img_bgr, direction="distance-from-retarget-face")
  with pytest.raises(ValueError, match="unknown face direction"):
    det.detect(img_bgr, direction="biggest")


def test_detector_max_face_num(det_model, img_bgr):
  # InsightFace keeps the face with the largest area - 2 * offset^2 from the image centre: A.
  out = scrfd.FaceDetector(det_model).detect(img_bgr, max_face_num=1, direction="small-large")
  assert len(out) == 1
  np.testing.assert_allclose(out.bboxes[0], planted_face(FACE_A, 512 / 704)[0], rtol=1e-6)


def test_detector_no_face(img_bgr):
  blob, _ = det_blob_reference(img_bgr)
  out = scrfd.FaceDetector(fake_scrfd({}, blob.mean(axis=(0, 2, 3)))).detect(img_bgr)
  assert len(out) == 0 and out.bboxes.shape == (0, 4) and out.kps.shape == (0, 5, 2)


# ---------------------------------------------------------------------------------------------
# 106 landmarks.

BOX = np.array([170.0, 180.0, 450.0, 560.0], np.float32)


def lmk106_reference(img_bgr, bbox):
  """(image->crop affine, normalised RGB channel means of the crop) per InsightFace."""
  # InsightFace's expressions on a float32 box as NumPy 1.26 (the official pin) evaluates them:
  # a float32 scalar with a Python number widens to float64; skimage composes in float64.
  bbox = np.asarray(bbox, np.float32)
  w, h = bbox[2] - bbox[0], bbox[3] - bbox[1]
  cx, cy = np.float64(bbox[2] + bbox[0]) / 2, np.float64(bbox[3] + bbox[1]) / 2
  s = 192 / (np.float64(max(w, h)) * 1.5)
  m = np.array([[s, 0, -(cx * s) + 96], [0, s, -(cy * s) + 96]], np.float64)
  crop = cv2.warpAffine(img_bgr, m, (192, 192), borderValue=0.0)
  blob = cv2.dnn.blobFromImage(crop, 1.0 / 128, (192, 192), (127.5,) * 3, swapRB=True)
  return m, blob.mean(axis=(0, 2, 3))


def test_normalisation_from_graph_names():
  def graph(*names):
    return helper.make_graph([helper.make_node("Relu", ["x"], ["x"], name=n) for n in names],
                             "g", [], [])
  assert landmark106.normalisation_from_graph(graph("Sub_0", "Mul_1", "conv")) == (0.0, 1.0)
  assert landmark106.normalisation_from_graph(graph("_minus0", "_mul0")) == (0.0, 1.0)
  assert landmark106.normalisation_from_graph(graph("bn_data", "conv")) == (0.0, 1.0)
  assert landmark106.normalisation_from_graph(graph("Sub_0", "conv")) == (127.5, 128.0)
  # InsightFace looks at names only, so a plainly named subtraction does not count.
  assert landmark106.normalisation_from_graph(graph("norm_sub", "norm_mul")) == (127.5, 128.0)


@pytest.mark.parametrize("normalises_inside", [True, False])
def test_landmark106_backprojects(img_bgr, tmp_path, normalises_inside):
  m, m_ref = lmk106_reference(img_bgr, BOX)
  target = face_points((310, 370), 280, 106, 8.0, 1, 106)
  planted = affine(target, m) / 96 - 1
  path = tmp_path / "2d106det.onnx"
  path.write_bytes(fake_2d106(planted, m_ref, normalises_inside))
  model = landmark106.Landmark106(str(path))
  assert (model.input_mean, model.input_std) == ((0.0, 1.0) if normalises_inside else
                                                 (127.5, 128.0))
  assert model.input_size == (192, 192) and model.num_points == 106
  np.testing.assert_allclose(model.crop(img_bgr, BOX)[1], m, rtol=1e-12, atol=1e-9)
  lmk = model.get(img_bgr, BOX)
  assert lmk.shape == (106, 2) and lmk.dtype == np.float32
  np.testing.assert_allclose(lmk, target, atol=0.02)


def test_landmark106_wrong_normalisation_is_detected(img_bgr):
  # The input check works: a graph that normalises by itself, but is not named so, gets a
  # pre-normalised blob and its output moves far away.
  m, m_ref = lmk106_reference(img_bgr, BOX)
  target = face_points((310, 370), 280, 106, 0.0, 2, 106)
  data = onnx.load_from_string(fake_2d106(affine(target, m) / 96 - 1, m_ref, True))
  for node in data.graph.node[:2]:
    node.name = "norm_" + node.name
  lmk = landmark106.Landmark106(data.SerializeToString()).get(img_bgr, BOX)
  assert np.abs(lmk - target).max() > 5


# ---------------------------------------------------------------------------------------------
# 203 landmarks.


def test_landmark203_backprojects(img_bgr):
  img_rgb = np.ascontiguousarray(img_bgr[..., ::-1])
  lmk106 = face_points((310, 370), 280, 106, -12.0, 3, 106)
  ref = crop_lib.crop_image(img_rgb, lmk106, dsize=224, scale=1.5, vy_ratio=-0.1,
                            flag_do_rot=True)
  m_ref = (ref["img_crop"].astype(np.float64) / 255).mean(axis=(0, 1))
  target = face_points((300, 380), 250, 203, -10.0, 4, 203)
  planted = affine(target, ref["M_o2c"]) / 224
  model = landmark203.Landmark203(fake_landmark203(planted, m_ref))
  inp, m_c2o = model.preprocess(img_rgb, lmk106)
  np.testing.assert_array_equal(inp[0].transpose(1, 2, 0), ref["img_crop"] / np.float32(255))
  np.testing.assert_array_equal(m_c2o, ref["M_c2o"])
  lmk = model.run(img_rgb, lmk106)
  assert lmk.shape == (203, 2)
  np.testing.assert_allclose(lmk, target, atol=0.02)


def test_landmark203_whole_image_path(img_bgr):
  # Without prior landmarks: whole image resized to 224, mapped back by max(h, w) / 224.
  img_rgb = np.ascontiguousarray(img_bgr[..., ::-1])
  m_ref = (cv2.resize(img_rgb, (224, 224)).astype(np.float64) / 255).mean(axis=(0, 1))
  planted = np.random.default_rng(5).uniform(0.1, 0.9, (203, 2))
  lmk = landmark203.Landmark203(fake_landmark203(planted, m_ref)).run(img_rgb, None)
  np.testing.assert_allclose(lmk, planted * 704, rtol=1e-4)


def test_landmark203_track_seeds_with_previous_frame(img_bgr):
  img_rgb = np.ascontiguousarray(img_bgr[..., ::-1])
  lmk0 = face_points((300, 380), 250, 203, 6.0, 6, 203)
  first = crop_lib.crop_image(img_rgb, lmk0, dsize=224, scale=1.5, vy_ratio=-0.1,
                              flag_do_rot=True)
  # The model always answers "the seed's points, nudged by delta in the crop". Since the crop
  # moves with the seed, frame k lands at lmk0 + (k + 1) * step only if frame k is seeded with
  # frame k-1's answer (re-using lmk0 would give lmk0 + step every time).
  delta = np.array([3.0, -2.0])
  model = landmark203.Landmark203(fake_landmark203((first["pt_crop"] + delta) / 224, None))
  step = delta @ np.asarray(first["M_c2o"], np.float64)[:2, :2].T
  tracked = model.track((img_rgb for _ in range(3)), lmk0)
  assert tracked.shape == (3, 203, 2)
  for k in range(3):
    np.testing.assert_allclose(tracked[k], lmk0 + (k + 1) * step, atol=0.02)


def test_landmark203_custom_crop_fn(img_bgr):
  img_rgb = np.ascontiguousarray(img_bgr[..., ::-1])
  calls = []

  def crop_fn(img, pts, **kwargs):
    calls.append(kwargs)
    return {"img_crop": np.zeros((224, 224, 3), np.uint8),
            "M_c2o": np.array([[2, 0, 10], [0, 2, 20], [0, 0, 1]], np.float32)}

  planted = np.full((203, 2), 0.5)
  lmk = landmark203.Landmark203(fake_landmark203(planted, None), crop_fn=crop_fn).run(
      img_rgb, np.zeros((203, 2), np.float32))
  assert calls == [dict(dsize=224, scale=1.5, vx_ratio=0.0, vy_ratio=-0.1, flag_do_rot=True)]
  np.testing.assert_allclose(lmk, np.tile([234.0, 244.0], (203, 1)))


# ---------------------------------------------------------------------------------------------
# FaceModels.


def test_face_models_missing_files(tmp_path):
  (tmp_path / "insightface/models/buffalo_l").mkdir(parents=True)
  (tmp_path / models.DET_FILE).write_bytes(b"")
  assert not models.available(str(tmp_path)) and not models.FaceModels.available(str(tmp_path))
  with pytest.raises(FileNotFoundError) as err:
    models.FaceModels.from_weights_dir(str(tmp_path))
  msg = str(err.value)
  assert "\n" not in msg
  assert models.LMK106_FILE in msg and models.LMK203_FILE in msg and models.DET_FILE not in msg
  assert "huggingface-cli download KwaiVGI/LivePortrait --local-dir pretrained_weights" in msg


def test_face_models_end_to_end(det_model, img_bgr, tmp_path):
  det_scale = 512 / 704
  box_a = planted_face(FACE_A, det_scale)[0].astype(np.float32)
  m, m_ref = lmk106_reference(img_bgr, box_a)
  target106 = face_points(((box_a[0] + box_a[2]) / 2, (box_a[1] + box_a[3]) / 2), 250, 106,
                          4.0, 7, 106)
  files = {models.DET_FILE: det_model,
           models.LMK106_FILE: fake_2d106(affine(target106, m) / 96 - 1, m_ref, False),
           models.LMK203_FILE: fake_landmark203(np.full((203, 2), 0.5), None)}
  for rel, data in files.items():
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_bytes(data)
  assert models.available(str(tmp_path))
  face_models = models.FaceModels.from_weights_dir(str(tmp_path))
  img_rgb = np.ascontiguousarray(img_bgr[..., ::-1])
  faces = face_models.detect_faces(img_rgb)
  assert len(faces) == 2
  np.testing.assert_allclose(faces[0].bbox, box_a, rtol=1e-6)
  np.testing.assert_allclose(faces[0].landmark_2d_106, target106, atol=0.02)
  lmk203 = face_models.landmark_203(img_rgb, faces[0].landmark_2d_106)
  crop = crop_lib.crop_image(img_rgb, faces[0].landmark_2d_106, dsize=224, scale=1.5,
                             vy_ratio=-0.1, flag_do_rot=True)
  np.testing.assert_allclose(lmk203, np.tile(affine([[112, 112]], crop["M_c2o"]), (203, 1)),
                             atol=1e-3)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The prepared paste-back (`PastedFrame`, `warp_maps`) against cv2.warpAffine and the official
result: bit for bit, on the pipeline golden and on crops thrown anywhere in a frame."""

import os

import cv2
import numpy as np
import pytest

from conftest import SHARED
from lp_jax.preprocess import paste_back

PHOTO = os.path.join(SHARED, "assets", "source", "s0.jpg")


def similarity(rng, scale_range=(0.3, 2.5), frame=(1280, 720)) -> np.ndarray:
  """A random crop -> frame similarity (3x3 float32), translations that may leave the frame."""
  angle, s = rng.uniform(-np.pi, np.pi), rng.uniform(*scale_range)
  c, n = s * np.cos(angle), s * np.sin(angle)
  tx, ty = rng.uniform(-0.4 * frame[0], 1.1 * frame[0]), rng.uniform(-0.4 * frame[1], 1.1 * frame[1])
  return np.array([[c, -n, tx], [n, c, ty], [0, 0, 1]], np.float32)


@pytest.fixture(scope="module")
def frame():
  return cv2.resize(cv2.cvtColor(cv2.imread(PHOTO), cv2.COLOR_BGR2RGB), (1280, 720))


def test_prepared_paste_back_is_the_official_result(pipeline_golden):
  g = pipeline_golden
  got = paste_back.PastedFrame(g["crop106/M_c2o"], g["in/image_rgb"])(g["in/generated_crop"])
  np.testing.assert_array_equal(got, g["paste/result"])


def test_warp_maps_reproduce_any_window_of_warp_affine(frame):
  rng = np.random.default_rng(0)
  crop = cv2.resize(frame[:600, 300:900], (512, 512))
  for _ in range(40):
    m = similarity(rng)
    full = cv2.warpAffine(crop, m[:2], (1280, 720), flags=cv2.INTER_LINEAR)
    x0, x1 = np.sort(rng.choice(1281, 2, replace=False))
    y0, y1 = np.sort(rng.choice(721, 2, replace=False))
    window = cv2.remap(crop, *paste_back.warp_maps(m, x0, x1, y0, y1), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    np.testing.assert_array_equal(window, full[y0:y1, x0:x1])


def test_prepared_paste_back_equals_the_plain_path_anywhere(frame):
  """Crops in the frame, across its edges, or outside it; noise crops show every tap."""
  rng = np.random.default_rng(1)
  photo_crop = cv2.resize(frame[:600, 300:900], (512, 512))
  for i in range(30):
    m = similarity(rng)
    crop = rng.integers(0, 256, (512, 512, 3), np.uint8) if i % 2 else photo_crop
    ref = paste_back.paste_back(crop, m, frame, paste_back.frame_mask(m, frame))
    np.testing.assert_array_equal(paste_back.PastedFrame(m, frame)(crop), ref)


def test_a_crop_outside_the_frame_leaves_it_unchanged(frame):
  m = np.array([[0.5, 0, 5000], [0, 0.5, 5000], [0, 0, 1]], np.float32)
  pasted = paste_back.PastedFrame(m, frame)
  assert pasted.window is None
  np.testing.assert_array_equal(pasted(np.full((512, 512, 3), 255, np.uint8)), frame)


def test_a_window_one_pixel_short_would_miss_the_crop(frame):
  """The window is as large as the crop's reach: cutting its last row loses pasted pixels."""
  m = np.array([[0.8, 0.1, 300], [-0.1, 0.8, 100], [0, 0, 1]], np.float32)
  x0, x1, y0, y1 = paste_back.reach(m, 512, frame.shape)
  mask = paste_back.frame_mask(m, frame)[..., 0]
  inside = np.zeros_like(mask, bool)
  inside[y0:y1, x0:x1] = True
  assert not mask[~inside].any()
  assert mask[y0:y1, x0:x1].any(axis=1)[[0, -1]].tolist() == [False, False]
  assert mask[y0 + 1:y1 - 1, x0:x1].any()

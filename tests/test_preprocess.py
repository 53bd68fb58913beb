# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Parity of the host-side pre/post-processing with the official code's golden outputs.

The golden (env `LP_PIPELINE_GOLDEN`, default `../shared/golden/pipeline_seed0.npz`) holds
inputs under `in/` and what the official LivePortrait code computed from them. Every output key is
recomputed here with the official defaults and compared; a table of measured errors is printed.
"""

import os

import numpy as np
import pytest

from lp_jax.ops.motion import motion_multiplier
from lp_jax.preprocess import crop
from lp_jax.preprocess import paste_back
from lp_jax.preprocess import ratios
from lp_jax.preprocess import smooth


# Tolerances. Crops and paste-back are bit-exact because the float32 matrices handed to OpenCV are
# bit-identical to upstream's, so uint8 images must match exactly (0 levels).
TOL_MATRIX = 0  # matrices, points and boxes: bit-exact
TOL_IMAGE = 0  # uint8 levels
TOL_MASK_ORI = 1e-6  # float32 blend weights
TOL_RATIO = 1e-5
TOL_SMOOTH = 1e-5
TOL_MULT_REL = 1e-6
TOL_GENERATED_MASK = 0  # make_crop_mask() vs the official template, uint8 levels


def compute(g: dict) -> dict:
  """Every golden output key recomputed from the golden's `in/` arrays (official defaults)."""
  out = {}
  img = g["in/image_rgb"]
  height, width = img.shape[:2]

  src = crop.crop_source_image(img, g["in/lmk106"])  # 512, scale 2.3, vy -0.125, rotated
  for k in ("M_o2c", "M_c2o", "img_crop", "pt_crop"):
    out[f"crop106/{k}"] = src[k]
  out["crop106/img_crop_256"] = src["img_crop_256x256"]

  norot = crop.crop_image(img, g["in/lmk106"], dsize=512, scale=2.3, vy_ratio=-0.125,
                          flag_do_rot=False)
  out["crop106_norot/M_o2c"], out["crop106_norot/img_crop"] = norot["M_o2c"], norot["img_crop"]

  c203 = crop.crop_image(img, g["in/lmk203"], dsize=512, scale=2.3, vy_ratio=-0.125,
                         flag_do_rot=True)
  out["crop203/M_o2c"], out["crop203/img_crop"] = c203["M_o2c"], c203["img_crop"]

  lmk = g["in/lmk203"]
  out["ratio/eye"] = ratios.eye_close_ratio(lmk)
  out["ratio/lip"] = ratios.lip_close_ratio(lmk)
  # The target column is an input of the official helper; take it from the golden.
  target = g["ratio/eye_with_target"][:, 2:]
  out["ratio/eye_with_target"] = ratios.eye_close_ratio(lmk, target)

  # Driving crop: the golden's driving landmarks all belong to frames equal to the source image
  # (or to `in/driving_rgb` where a golden provides frames); the first frame's crop is stored.
  d_lmk = g["in/driving_lmk106"]
  frames = g.get("in/driving_rgb", np.broadcast_to(img, (len(d_lmk),) + img.shape))
  drive = crop.crop_driving_frames(list(frames), list(d_lmk))
  out["drive/bboxes"], out["drive/bbox_avg"] = drive["bboxes"], drive["bbox"]
  out["drive/M_o2c"] = drive["M_o2c"]
  out["drive/img_crop"] = drive["frame_crop_lst"][0]
  out["drive/lmk_crop"] = drive["lmk_crop_lst"][0]

  mask_ori = paste_back.prepare_paste_back(g["in/mask_template"], g["crop106/M_c2o"],
                                           (width, height))
  out["paste/mask_ori"] = mask_ori
  out["paste/result"] = paste_back.paste_back(g["in/generated_crop"], g["crop106/M_c2o"], img,
                                              mask_ori)

  for key in g:
    if key.startswith("smooth/exp_"):
      obs_var = float(key[len("smooth/exp_"):])
      out[key] = smooth.kalman_smooth(g["in/smooth_exp"], observation_variance=obs_var)

  out["mult/value"] = np.float64(motion_multiplier(g["in/mult_x_s"], g["in/mult_x_d0"]))
  return out


def _tolerance(key: str, ref: np.ndarray):
  """(metric name, tolerance) of a golden key."""
  if key.startswith("mult/"):
    return "rel", TOL_MULT_REL
  if key.startswith("ratio/"):
    return "abs", TOL_RATIO
  if key.startswith("smooth/"):
    return "abs", TOL_SMOOTH
  if key == "paste/mask_ori":
    return "abs", TOL_MASK_ORI
  if ref.dtype == np.uint8:
    return "levels", TOL_IMAGE
  return "abs", TOL_MATRIX


def compare(g: dict, out: dict) -> list:
  """Rows (key, metric, max error, mean error, tolerance, ok) for every golden output key."""
  rows = []
  for key in sorted(k for k in g if not k.startswith(("in/", "meta/"))):
    ref = np.asarray(g[key])
    got = np.asarray(out.get(key))
    metric, tol = _tolerance(key, ref)
    if key not in out or got.shape != ref.shape:
      rows.append((key, metric, np.inf, np.inf, tol, False))
      continue
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    if metric == "rel":
      err = err / np.maximum(np.abs(ref.astype(np.float64)), 1e-30)
    max_err, mean_err = float(err.max()), float(err.mean())
    rows.append((key, metric, max_err, mean_err, tol, max_err <= tol))
  return rows


def _format_table(rows, title) -> str:
  lines = [title, f"{'key':28s} {'metric':7s} {'max':>11s} {'mean':>11s} {'tol':>8s}  ok"]
  for key, metric, max_err, mean_err, tol, ok in rows:
    lines.append(f"{key:28s} {metric:7s} {max_err:11.3g} {mean_err:11.3g} {tol:8.1g}  {ok}")
  return "\n".join(lines)


@pytest.fixture(scope="module")
def computed(pipeline_golden):
  return compute(pipeline_golden)


def test_every_key_matches_golden(pipeline_golden, computed, report_table):
  rows = compare(pipeline_golden, computed)
  name = os.path.basename(os.environ.get("LP_PIPELINE_GOLDEN", "pipeline_seed0.npz"))
  report_table(_format_table(rows, f"preprocess parity vs {name}"))
  assert rows, "golden has no output keys"
  bad = [r for r in rows if not r[-1]]
  assert not bad, f"keys out of tolerance: {bad}"


def test_generated_mask_matches_official_template(pipeline_golden, report_table):
  mask = paste_back.make_crop_mask(512)
  ref = pipeline_golden["in/mask_template"]
  assert mask.shape == ref.shape and mask.dtype == np.uint8
  diff = np.abs(mask.astype(np.int32) - ref.astype(np.int32))
  report_table(f"make_crop_mask vs official mask_template: max {diff.max()} levels, "
               f"mean {diff.mean():.3g}, pixels differing {int((diff > 0).sum())}")
  assert diff.max() <= TOL_GENERATED_MASK


@pytest.mark.parametrize("key,delta", [
    ("crop106/M_o2c", 1e-3),
    ("crop106/img_crop", 1),
    ("drive/bbox_avg", 1e-3),
    ("paste/result", 1),
    ("ratio/eye", 1e-4),
    ("smooth/exp_3e-7", 1e-4),
    ("mult/value", 1e-5),
])
def test_perturbed_golden_fails(pipeline_golden, computed, key, delta):
  """The comparison must notice a small change of one golden value."""
  bad = dict(pipeline_golden)
  ref = np.array(bad[key])
  flat = ref.reshape(-1)
  if ref.dtype == np.uint8:
    flat[0] = flat[0] + delta if flat[0] < 255 else flat[0] - delta
  else:
    flat[0] = flat[0] + delta
  bad[key] = ref
  rows = {r[0]: r for r in compare(bad, computed)}
  assert not rows[key][-1], f"perturbing {key} by {delta} went unnoticed"
  assert all(r[-1] for k, r in rows.items() if k != key)


def test_smoother_is_identity_for_constant_sequence():
  x = np.tile(np.arange(6, dtype=np.float32).reshape(1, 2, 3), (5, 1, 1))
  np.testing.assert_array_equal(smooth.kalman_smooth(x), x)


def test_combined_ratios_use_driving_left_eye(pipeline_golden):
  lmk = pipeline_golden["in/lmk203"]
  eye = ratios.combined_eye_ratio(np.array([[0.25, 0.75]]), lmk)
  np.testing.assert_allclose(eye[:, :2], ratios.eye_close_ratio(lmk), rtol=1e-6)
  assert eye.shape == (1, 3) and eye[0, 2] == np.float32(0.25)
  lip = ratios.combined_lip_ratio(np.array([0.5]), lmk)
  assert lip.shape == (1, 2) and lip[0, 1] == np.float32(0.5)

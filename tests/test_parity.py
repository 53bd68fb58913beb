# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Parity with the official PyTorch LivePortrait on the golden npz named by LP_GOLDEN.

The golden's checkpoints are written in the official layout, converted with the CLI exactly as
a user converts the real download, loaded through the public API, and every output key of the
golden is compared. The measured max / mean absolute error of each key is printed as a table.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from lp_jax.inference.driving_keypoints import image_source_keypoints
from lp_jax.inference.networks import LivePortraitModels
from lp_jax.inference.options import AnimationOptions
from lp_jax.ops import keypoints
from lp_jax.preprocess.ratios import Ratios

pytestmark = [pytest.mark.slow, pytest.mark.torch]

INFO_KEYS = ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")
PIPELINE_CASES = {  # case -> (driving info, options of the official image-source loop)
    "synth_stitch": ("in/synthetic_driving_info", dict(stitching=True)),
    "synth_nostitch": ("in/synthetic_driving_info", dict(stitching=False)),
    "synth_mult1p5": ("in/synthetic_driving_info", dict(stitching=True, multiplier=1.5)),
    "synth_retarget_stitch": ("in/synthetic_driving_info", dict(stitching=True, retarget=True)),
    "real_driving_stitch": ("M/info_driving", dict(stitching=True)),
}


def tolerance(key: str) -> tuple[float, float | None]:
  """(max abs, mean abs or None) allowed for a golden key (float32 CPU)."""
  if key in ("G/image",) or (key.startswith("pipeline/") and key.endswith("/out")):
    return 2e-3, 1e-4  # 512x512 images
  if key.startswith(("F/", "W/")):
    return 1e-3, None  # feature volumes, warped features, deformation
  return 1e-4, None  # keypoints, poses, MLP outputs


def is_input(key: str) -> bool:
  return key.startswith(("in/", "meta/")) or key in ("S/eye_cond", "S/lip_cond",
                                                       "pipeline/kept_frames",
                                                       "math/degree_from_bins_in")


def nchw(x):
  return np.asarray(x).transpose(0, 3, 1, 2)


def ncdhw(x):
  return np.asarray(x).transpose(0, 4, 1, 2, 3)


def info_from(golden, prefix):
  info = {k: jnp.asarray(golden[f"{prefix}/{k}"]) for k in INFO_KEYS}
  info["R"] = keypoints.get_rotation_matrix(info["pitch"], info["yaw"], info["roll"])
  return info


def pipeline_keypoints(models, golden, src, x_s, driving_prefix, stitching=True, multiplier=1.0,
                       retarget=False):
  """The official image-source / video-driving loop with its CLI defaults (relative motion,
  region all, expression-friendly), through the public inference API, batched over frames."""
  options = AnimationOptions(flag_stitching=stitching, driving_multiplier=multiplier,
                             flag_eye_retargeting=retarget, flag_lip_retargeting=retarget)
  source_ratios = driving_ratios = None
  if retarget:  # the golden gives whole conditions: [source eyes, driving eye], [source, driving]
    eye, lip = golden["in/retarget_eye_cond"], golden["in/retarget_lip_cond"]
    assert (eye[:, :2] == eye[:1, :2]).all() and (lip[:, :1] == lip[:1, :1]).all()
    source_ratios = Ratios(eye=eye[:1, :2], lip=lip[:1, :1])
    driving_ratios = Ratios(eye=np.repeat(eye[:, 2:3], 2, axis=1), lip=lip[:, 1:2])
  x_d, notes = image_source_keypoints(models, src, x_s, info_from(golden, driving_prefix),
                                      options, driving_is_video=True,
                                      source_ratios=source_ratios, driving_ratios=driving_ratios)
  assert not notes
  return x_d


def compute_outputs(models: LivePortraitModels, golden: dict) -> dict:
  """Every golden output key, computed by lp_jax, in the golden's (PyTorch) layout."""
  out = {}
  image = jnp.asarray(golden["in/source_prepared_nchw"].transpose(0, 2, 3, 1))
  f_s = models.extract_feature_3d(image)
  out["F/feature_3d"] = ncdhw(f_s)
  raw = models.motion_raw(image)
  for k in INFO_KEYS:
    out[f"M/raw_source/{k}"] = raw[k]
  src = models.get_kp_info(image)
  drv_images = jnp.asarray(golden["in/driving_rgb256"], jnp.float32) / 255.0
  drv = models.get_kp_info(drv_images)
  for k in INFO_KEYS:
    out[f"M/info_source/{k}"] = src[k]
    out[f"M/info_driving/{k}"] = drv[k]
  out["M/R_source"], out["M/R_driving"] = src["R"], drv["R"]
  x_s = keypoints.transform_kp_info(src)
  out["M/x_s"] = x_s
  out["math/degree_from_bins_out"] = keypoints.headpose_pred_to_degree(
      jnp.asarray(golden["math/degree_from_bins_in"]))

  # Stitching / retargeting MLPs and W, G on the golden's x_d (pipeline/synth_stitch frame 1).
  x_d_ref = jnp.asarray(golden["pipeline/synth_stitch/x_d"][1:2])
  out["S/stitch_delta"] = models.stitch(x_s, x_d_ref)
  out["S/eye_delta"] = models.retarget_eye(x_s, jnp.asarray(golden["S/eye_cond"]))
  out["S/lip_delta"] = models.retarget_lip(x_s, jnp.asarray(golden["S/lip_cond"]))

  kept = np.asarray(golden["pipeline/kept_frames"])
  cases = [c for c in PIPELINE_CASES if f"pipeline/{c}/x_d" in golden]
  frames = [x_d_ref]
  for case in cases:
    prefix, options = PIPELINE_CASES[case]
    x_d = pipeline_keypoints(models, golden, src, x_s, prefix, **options)
    out[f"pipeline/{case}/x_d"] = x_d
    if f"pipeline/{case}/out" in golden:
      frames.append(x_d[kept])
  # One batched W+G call for the reference frame and every kept pipeline frame.
  decoded = models.warp_decode(f_s, x_s, jnp.concatenate(frames, axis=0))
  out["W/out"] = nchw(decoded["warped"][:1])
  out["W/occlusion_map"] = nchw(decoded["occlusion_map"][:1])
  out["W/deformation"] = np.asarray(decoded["deformation"][:1])
  images = nchw(decoded["out"])
  out["G/image"] = images[:1]
  start = 1
  for case in cases:
    if f"pipeline/{case}/out" in golden:
      out[f"pipeline/{case}/out"] = images[start:start + len(kept)]
      start += len(kept)
  return {k: np.asarray(v) for k, v in out.items()}


def compare(outputs: dict, golden: dict) -> list[dict]:
  """One row per golden output key: measured errors, tolerances and pass/fail."""
  rows = []
  for key in sorted(k for k in golden if not is_input(k)):
    max_tol, mean_tol = tolerance(key)
    if key not in outputs:
      rows.append(dict(key=key, max=np.inf, mean=np.inf, max_tol=max_tol, mean_tol=mean_tol,
                       ok=False, note="not computed"))
      continue
    ref, got = np.asarray(golden[key], np.float64), np.asarray(outputs[key], np.float64)
    if ref.shape != got.shape:
      rows.append(dict(key=key, max=np.inf, mean=np.inf, max_tol=max_tol, mean_tol=mean_tol,
                       ok=False, note=f"shape {got.shape} != {ref.shape}"))
      continue
    err = np.abs(ref - got)
    max_err, mean_err = float(err.max()), float(err.mean())
    ok = bool(np.isfinite(err).all()) and max_err <= max_tol and (
        mean_tol is None or mean_err <= mean_tol)
    rows.append(dict(key=key, max=max_err, mean=mean_err, max_tol=max_tol, mean_tol=mean_tol,
                     ok=ok, note=""))
  return rows


def format_table(rows: list[dict]) -> str:
  lines = [f"{'key':40s} {'max abs':>10s} {'mean abs':>10s} {'tol':>16s}  ok"]
  for r in rows:
    tol = f"{r['max_tol']:.0e}" + (f"/{r['mean_tol']:.0e}" if r["mean_tol"] else "")
    lines.append(f"{r['key']:40s} {r['max']:10.3e} {r['mean']:10.3e} {tol:>16s}  "
                 f"{'yes' if r['ok'] else 'NO ' + r['note']}")
  return "\n".join(lines)


@pytest.fixture(scope="module")
def outputs(converted_golden_weights, golden):
  _, orbax_dir = converted_golden_weights
  models = LivePortraitModels.from_pretrained(orbax_dir)
  return compute_outputs(models, golden)


def test_every_golden_key_within_tolerance(outputs, golden, report_table):
  rows = compare(outputs, golden)
  report_table(f"parity vs official PyTorch (float32 CPU), golden seed {golden['meta/seed']}\n"
               f"{format_table(rows)}")
  failed = [r["key"] for r in rows if not r["ok"]]
  assert not failed, f"outside tolerance: {failed}"
  assert len(rows) >= 40  # every output key of the public golden format is compared


@pytest.mark.parametrize("key", ["F/feature_3d", "M/info_source/yaw", "W/deformation",
                                 "G/image", "pipeline/synth_retarget_stitch/x_d",
                                 "pipeline/synth_mult1p5/out", "S/lip_delta"])
def test_perturbed_golden_fails(outputs, golden, key):
  """A golden value moved beyond tolerance must be reported (the comparison can fail)."""
  bad = dict(golden)
  bad[key] = golden[key].copy()
  bad[key].reshape(-1)[bad[key].size // 2] += 5 * tolerance(key)[0]
  rows = {r["key"]: r for r in compare(outputs, bad)}
  assert not rows[key]["ok"]
  assert all(r["ok"] for k, r in rows.items() if k != key)


def test_image_mean_tolerance_fails_on_small_uniform_shift(outputs, golden):
  bad = dict(golden)
  bad["G/image"] = golden["G/image"] + 5e-4  # below the max tolerance, above the mean one
  rows = {r["key"]: r for r in compare(outputs, bad)}
  assert not rows["G/image"]["ok"]

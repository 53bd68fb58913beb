# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Half precision at inference (lp_jax.precision): the flag's choice per backend, float32 at the
network boundary, and what bf16 / fp16 cost against the float32 golden (printed as a table)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lp_jax_configs import models as model_configs
from lp_jax import precision
from lp_jax.inference.networks import LivePortraitModels
from lp_jax.models import liveportrait


def test_flag_picks_the_official_half_precision_per_backend():
  assert precision.resolve(None, True, "cuda") == "fp16"  # the official autocast
  assert precision.resolve(None, True, "tpu") == "bf16"
  assert precision.resolve(None, True, "cpu") == "fp32"
  assert precision.resolve(None, False, "cuda") == "fp32"
  assert precision.resolve("bf16", False, "cpu") == "bf16"  # --precision wins anywhere
  with pytest.raises(ValueError, match="--precision 'fp8'"):
    precision.resolve("fp8", True, "cpu")


def test_infer_flags():
  from lp_jax.inference import cli  # pylint: disable=g-import-not-at-top
  parser = cli.build_parser()
  args = parser.parse_args(["-s", "a.jpg", "-d", "b.mp4"])
  assert args.flag_use_half_precision and args.precision is None
  args = parser.parse_args(["-s", "a.jpg", "-d", "b.mp4", "--no_flag_use_half_precision",
                            "--precision", "fp16"])
  assert not args.flag_use_half_precision and args.precision == "fp16"
  args = parser.parse_args(["-s", "a.jpg", "-d", "b.mp4", "--no-flag-use-half-precision"])
  assert not args.flag_use_half_precision  # tyro's spelling, as the official CLI


@pytest.fixture(scope="module")
def tiny_models():
  config = model_configs.get_config("tiny")
  variables = {n: liveportrait.random_variables(n, config, i)
               for i, n in enumerate(liveportrait.NETWORKS)}
  return {p: LivePortraitModels(variables, config, precision.dtype(p))
          for p in ("fp32", "bf16", "fp16")}


def test_half_networks_compute_in_half_and_return_float32(tiny_models):
  rng = np.random.default_rng(0)
  image = jnp.asarray(rng.uniform(size=(1, 256, 256, 3)), jnp.float32)
  ref = tiny_models["fp32"]
  f_s, x_s = ref.extract_feature_3d(image), ref.get_kp_info(image)["kp"]
  results = {}
  for name, models in tiny_models.items():
    info = models.get_kp_info(image)
    out = models.warp_decode(f_s, x_s, x_s * 1.01)  # the same inputs for every precision
    for tree in (models.extract_feature_3d(image), info, out):
      assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(tree)), name
    results[name] = np.asarray(out["out"])
    # The convolutions really run in the requested dtype.
    jaxpr = str(jax.make_jaxpr(lambda v, x, m=models: m.nets["spade_generator"].apply(v, x))(
        models.variables["spade_generator"], out["warped"]))
    half = {"bf16": "bf16[", "fp16": "f16["}.get(name)
    assert (half in jaxpr) if half else ("bf16[" not in jaxpr and "f16[" not in jaxpr), name
  for name in ("bf16", "fp16"):
    err = np.abs(results[name] - results["fp32"])
    # Rounded, not broken (random tiny weights: a far weaker check than the golden's below).
    assert 0 < err.mean() < 0.02, (name, err.mean())


def pipeline_frames(models, golden, frames: int) -> dict:
  """The first `frames` kept frames of every pipeline/* case with an `out`, through the public
  API as in test_parity (one batched W+G call), in the golden's NCHW layout."""
  from test_parity import PIPELINE_CASES, pipeline_keypoints  # pylint: disable=g-import-not-at-top
  from lp_jax.ops import keypoints  # pylint: disable=g-import-not-at-top
  image = jnp.asarray(golden["in/source_prepared_nchw"].transpose(0, 2, 3, 1))
  f_s = models.extract_feature_3d(image)
  src = models.get_kp_info(image)
  x_s = keypoints.transform_kp_info(src)
  kept = np.asarray(golden["pipeline/kept_frames"])[:frames]
  cases = [c for c in PIPELINE_CASES if f"pipeline/{c}/out" in golden]
  x_d = [pipeline_keypoints(models, golden, src, x_s, PIPELINE_CASES[c][0],
                            **PIPELINE_CASES[c][1])[kept] for c in cases]
  images = np.asarray(models.warp_decode(f_s, x_s, jnp.concatenate(x_d))["out"])
  images = images.transpose(0, 3, 1, 2).reshape(len(cases), len(kept), 3, 512, 512)
  return {f"pipeline/{c}/out": images[i] for i, c in enumerate(cases)}


@pytest.mark.slow
@pytest.mark.table
@pytest.mark.torch
def test_half_precision_fidelity_against_the_float32_golden(golden, converted_golden_weights):
  """F, M, W, G in bf16 / fp16 (keypoint math and MLPs float32) vs the golden's float32 frames:
  max / mean abs and PSNR of every pipeline/* case, printed as a table.

  By default the first kept frame of each case in bf16 and fp16 (half-precision convolutions
  are slow on XLA:CPU); LP_PRECISION_TABLE=all adds the second frame and float32, the table in
  docs/aot.md.
  """
  full = os.environ.get("LP_PRECISION_TABLE") == "all"
  _, orbax_dir = converted_golden_weights
  rows = []
  for name in (("fp32", "bf16", "fp16") if full else ("bf16", "fp16")):
    models = LivePortraitModels.from_pretrained(orbax_dir, dtype=precision.dtype(name))
    outputs = pipeline_frames(models, golden, 2 if full else 1)
    assert outputs
    for key, out in sorted(outputs.items()):
      diff = out.astype(np.float64) - golden[key][:len(out)].astype(np.float64)
      mse = float(np.mean(diff ** 2))
      psnr = 10 * np.log10(1.0 / mse) if mse > 0 else float("inf")
      rows.append((name, key, float(np.abs(diff).max()), float(np.abs(diff).mean()), psnr))
    del models
    jax.clear_caches()
  print("\n| precision | case | max abs | mean abs | PSNR dB |\n| --- | --- | --- | --- | --- |")
  for name, key, mx, mean, psnr in rows:
    print(f"| {name} | {key[len('pipeline/'):-len('/out')]} | {mx:.2e} | {mean:.2e} | "
          f"{psnr:.1f} |")
  for name, key, mx, mean, psnr in rows:
    if name == "fp32":
      assert mx < 2e-3 and mean < 1e-4, (key, mx, mean)  # the parity tolerance
    else:  # measured 37-40 dB (bf16) and 50-56 dB (fp16): a visibly identical frame
      assert psnr > (34 if name == "bf16" else 45) and mx < 0.3, (name, key, mx, mean, psnr)

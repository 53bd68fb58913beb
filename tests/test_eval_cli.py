# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""python -m lp_jax.eval on a folder of real video files: the per-clip and summary lines, the
baselines on cases with known answers, skipped clips and the grid."""

import json
import os

import cv2
import numpy as np
import pytest
from conftest import SHARED, run_in_process

from lp_jax import eval as eval_cli
from lp_jax import weights
from lp_jax.inference import assets
from lp_jax.training import evaluate
from lp_jax.models import liveportrait
from lp_jax.weights import export as weights_export
from lp_jax_configs import models as model_configs
from lp_jax_configs import train_demo

PHOTO = os.path.join(SHARED, "assets", "train", "images", "lp_source_s2.jpg")
CLIP = os.path.join(SHARED, "assets", "driving", "d0.mp4")


def write_video(path: str, frames) -> None:
  h, w = frames[0].shape[:2]
  out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
  assert out.isOpened()
  for f in frames:
    out.write(f)
  out.release()


@pytest.fixture(scope="module")
def micro_weights(tmp_path_factory):
  """Random micro networks written by the exporter as a converted lp_jax folder."""
  cfg = model_configs.get_config("micro")
  variables = {n: liveportrait.random_variables(n, cfg, i)
               for i, n in enumerate(liveportrait.BASE_NETWORKS)}
  dst = str(tmp_path_factory.mktemp("weights") / "micro")
  weights_export.export_trained(variables, dst, model_variant="micro")
  return dst


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
  """A still clip (one photo repeated), frames of a real talking-head clip, a file
  that is not a video and a video without a face."""
  root = tmp_path_factory.mktemp("clips")
  photo = cv2.imread(PHOTO)
  write_video(str(root / "still.mp4"), [photo] * 6)
  cap = cv2.VideoCapture(CLIP)
  frames = [cap.read()[1] for _ in range(72)][::6]  # 12 frames over 3 s: the head moves
  cap.release()
  write_video(str(root / "talking.mp4"), frames)
  (root / "broken.mp4").write_bytes(b"not a video at all")
  noise = np.random.default_rng(0).integers(0, 255, (6, 128, 128, 3), dtype=np.uint8)
  write_video(str(root / "noface.mp4"), list(noise))
  return str(root)


def run_eval(*args):
  proc = run_in_process(eval_cli.main, list(args))
  lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
  return proc, lines


def test_clips_baselines_and_grid(micro_weights, clips, tmp_path):
  grid = str(tmp_path / "grid.png")
  proc, lines = run_eval("--weights", micro_weights, "--clips", clips, "--size", "64",
                         "--network_size", "64", "--frames", "6", "--stride", "1", "--batch",
                         "8", "--grid", grid)
  assert proc.returncode == 0, proc.stderr
  # Unreadable and faceless files: one line each on stderr, left out of the results.
  skipped = proc.stderr.strip().splitlines()
  assert len(skipped) == 2
  assert skipped[0].startswith("broken.mp4: skipped (") and "not a readable video" in skipped[0]
  assert skipped[1] == f"noface.mp4: skipped ({os.path.join(clips, 'noface.mp4')}: no face " \
                       "found by the Haar cascade)"
  *per_clip, summary = lines
  assert [c["clip"] for c in per_clip] == ["still.mp4", "talking.mp4"]
  still, talking = per_clip
  # A still photo, coded lossily: copying the source is near exact, and the motion between
  # frames that barely differ is near zero.
  assert still["copy_source_psnr"] > 45 and still["copy_source_ssim"] > 0.99
  assert still["model_psnr"] == pytest.approx(still["no_motion_psnr"], abs=0.5)
  # A real clip moves: copying the source is no longer close.
  assert 10 < talking["copy_source_psnr"] < 40 and talking["copy_source_l1"] > 0.005
  for key in ("model_psnr", "copy_source_psnr", "no_motion_psnr", "model_l1", "copy_source_l1"):
    assert summary[key] == pytest.approx((still[key] + talking[key]) / 2)
  assert summary["clips"] == 2 and summary["frames"] == 10 and summary["summary"] is True
  image = cv2.imread(grid)
  assert image.shape == (2 * 3 * 128, 3 * 128, 3)  # 3 frames per clip, 64 px tiles shown at 128


@pytest.mark.parametrize("network_size", [64, (64, 128)], ids=["64", "F64_M128"])
def test_frames_equal_to_the_source(micro_weights, network_size):
  """Every driving frame equals the source: copying it is exact, and the motion of the source
  relative to itself is none, so the model renders what the no-motion baseline renders (also
  when M sees the frames at another side than F, as configs/train_demo.py trains it)."""
  variables, _ = weights.load_variables(micro_weights)
  cfg = model_configs.get_config("micro")
  modules = {n: liveportrait.build(n, cfg) for n in liveportrait.BASE_NETWORKS}
  photo = cv2.cvtColor(cv2.resize(cv2.imread(PHOTO), (64, 64), interpolation=cv2.INTER_AREA),
                       cv2.COLOR_BGR2RGB)
  frames = np.repeat(photo[None].astype(np.float32) / 255.0, 5, axis=0)
  m = evaluate.clip_metrics(modules, variables, frames, batch_size=4, network_size=network_size)
  assert m["copy_source"]["psnr"] == [100.0] * 4 and m["copy_source"]["l1"] == [0.0] * 4
  np.testing.assert_allclose(m["copy_source"]["ssim"], 1.0, atol=1e-5)
  np.testing.assert_allclose(m["model"]["psnr"], m["no_motion"]["psnr"], atol=0.01)
  np.testing.assert_allclose(m["model"]["l1"], m["no_motion"]["l1"], atol=1e-5)
  assert 0 < m["model"]["psnr"][0] < 100  # the random network does not reproduce the photo


def test_bad_inputs_are_one_line(micro_weights, tmp_path):
  proc, _ = run_eval("--weights", micro_weights, "--clips", str(tmp_path / "absent"))
  assert proc.returncode == 1
  assert proc.stderr.strip() == f"error: {tmp_path / 'absent'}: no such folder of clips"
  (tmp_path / "empty").mkdir()
  proc, _ = run_eval("--weights", micro_weights, "--clips", str(tmp_path / "empty"))
  assert proc.returncode == 1 and "no videos" in proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1
  proc, _ = run_eval("--workdir", str(tmp_path / "empty"), "--clips", CLIP[:-len("/d0.mp4")])
  assert proc.returncode == 1
  assert proc.stderr.strip().endswith("no config.json (not a training workdir; pass --config)")


def test_shipped_demo_model_animates_a_held_out_clip(tmp_path):
  """The demo model in lp_jax/resources (make train-demo, exported) read as --weights: its
  manifest gives the networks' shapes and input sides, and on source/s13.mp4, held out of its
  training, it beats copying the source (15.27 vs 12.85 dB when exported) and no motion."""
  held_out = os.path.join(SHARED, "assets", "source", "s13.mp4")
  assert os.path.relpath(held_out, os.path.join(SHARED, "assets")) in train_demo.HELD_OUT
  (tmp_path / "clips").mkdir()
  os.symlink(held_out, tmp_path / "clips" / "s13.mp4")
  proc, lines = run_eval("--weights", assets.DEMO_MODEL, "--clips", tmp_path / "clips")
  assert proc.returncode == 0, proc.stderr
  clip, summary = lines
  assert summary["size"] == 64 and clip["frames"] == 102
  assert clip["model_psnr"] > clip["copy_source_psnr"] + 1.5, clip
  assert clip["model_psnr"] > clip["no_motion_psnr"] + 1.5, clip
  assert clip["model_l1"] < clip["copy_source_l1"], clip

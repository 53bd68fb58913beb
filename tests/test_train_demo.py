# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A smoke run of `make train-demo`'s recipe (configs/train_demo.py): the real face-cropped
clips and photos, a few steps, a checkpoint, the held-out evaluation with its baselines."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, SHARED, run_in_process

from lp_jax import eval as eval_cli
from lp_jax.training import export_workdir
from lp_jax_configs import train_demo


@pytest.mark.slow
def test_train_demo_recipe_runs(tmp_path):
  workdir = str(tmp_path / "run")
  env = dict(os.environ, PYTHONPATH=ROOT, LP_SHARED=SHARED, JAX_PLATFORMS="cpu")
  # One CPU device, as `make train-demo` runs. Three steps are compile-bound: XLA:CPU's LLVM
  # optimizations would cost more than they save (as in the training tests; Makefile FAST_COMPILE).
  env["XLA_FLAGS"] = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
  steps = 3
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "train.py"), "--config=configs/train_demo.py",
       f"--workdir={workdir}", f"--config.total_steps={steps}", "--config.log_every=1",
       "--config.eval_every=0", "--config.data.eval_num_frames=5"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  # The terms the recipe cannot run are named at start, with the reason.
  for line in ("loss term wing is off (no landmarks in the data)",
               "loss term head_pose is off (no hopenet network)"):
    assert line in proc.stderr
  assert "3 held out" in proc.stderr  # s13, lp_d12, xportrait never train
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  losses = [r for r in records if "loss/total" in r]
  assert [r["step"] for r in losses] == list(range(1, steps + 1))
  for r in losses:
    assert all(math.isfinite(v) for k, v in r.items() if k.startswith("loss/"))
    assert r["loss/pixel"] > 0 and r["loss/equivariance"] > 0
  assert str(steps) in os.listdir(os.path.join(workdir, "checkpoints"))
  final = [r for r in records if "eval/psnr" in r][-1]
  assert final["step"] == steps and final["eval/frames"] == 3 * 4
  assert final["eval/copy_source_psnr"] > 0 and final["eval/no_motion_psnr"] > 0

  # The evaluation a user runs on a folder of clips, with its baselines.
  clips = tmp_path / "clips"
  clips.mkdir()
  shutil.copy(os.path.join(SHARED, "assets", "driving", "d0.mp4"), clips)
  result = run_in_process(eval_cli.main, ["--workdir", workdir, "--clips", str(clips),
                                          "--frames", "4", "--stride", "8"])
  assert result.returncode == 0, result.stderr
  clip, summary = [json.loads(line) for line in result.stdout.splitlines()]
  assert clip["clip"] == "d0.mp4" and clip["frames"] == 3
  assert summary["clips"] == 1 and summary["step"] == steps and summary["size"] == 64
  for key in ("model_psnr", "copy_source_psnr", "no_motion_psnr", "model_l1",
              "copy_source_l1"):
    assert math.isfinite(summary[key]), key

  # Exported, the run's networks carry their config and input sides: scored as --weights they
  # give exactly what the workdir gave.
  exported = str(tmp_path / "exported")
  proc = run_in_process(export_workdir.main, ["--workdir", workdir, "--dst", exported])
  assert proc.returncode == 0, proc.stderr
  result = run_in_process(eval_cli.main, ["--weights", exported, "--clips", str(clips),
                                          "--frames", "4", "--stride", "8"])
  assert result.returncode == 0, result.stderr
  *_, weights_summary = [json.loads(line) for line in result.stdout.splitlines()]
  assert weights_summary["size"] == 64
  for key in ("model_psnr", "no_motion_psnr", "model_l1"):
    assert weights_summary[key] == summary[key], key
  assert train_demo.HELD_OUT == ("source/s13.mp4", "train/videos/lp_d12.mp4",
                                 "train/videos/xportrait_driving_video.mp4")

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The benchmark and demo entry points run end to end and fail cleanly."""

import json
import os
import subprocess
import sys

import cv2
import pytest

from conftest import ROOT, SHARED

SOURCE = os.path.join(SHARED, "assets", "source", "s31.jpg")
DRIVING = os.path.join(SHARED, "assets", "driving", "d0.mp4")


def run(*args):
  env = dict(os.environ, PYTHONPATH=ROOT)
  return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT,
                        env=env, timeout=600)


def test_bench_prints_json_lines():
  proc = run("lp_jax.bench", "--model_config", "tiny", "--batch_sizes", "1,2", "--repeats", "1",
             "--networks", "F,W+G")
  assert proc.returncode == 0, proc.stderr
  records = [json.loads(line) for line in proc.stdout.splitlines()]
  forward = [r for r in records if r["event"] == "forward"]
  assert [(r["network"], r["batch"]) for r in forward] == [("F", 1), ("W+G", 1), ("F", 2),
                                                           ("W+G", 2)]
  for r in forward:
    assert r["s_per_call"] > 0 and r["gflop_per_frame"] > 0 and r["matmul_gflops"] > 0
    assert 0 < r["ratio_to_matmul"] < 10
  # FLOPs per frame do not depend on the batch (the lax.map-chunked generator is counted whole).
  wg = [r["gflop_per_frame"] for r in forward if r["network"] == "W+G"]
  assert abs(wg[0] - wg[1]) / wg[0] < 0.02
  assert records[-1]["event"] == "peak_rss" and records[-1]["mib"] > 0


def demo(tmp_path, *args):
  env = dict(os.environ, PYTHONPATH=ROOT, LP_JAX_CACHE=str(tmp_path / "cache"))
  return subprocess.run([sys.executable, "-m", "lp_jax.demo", "--weights",
                         str(tmp_path / "absent"), *args], capture_output=True, text=True,
                        cwd=ROOT, env=env, timeout=600)


def test_demo_writes_a_video(tmp_path):
  """The demo's video. .ci/run runs `make demo` first (the base install, the bundled inputs,
  48 frames) and names its output folder and log in LP_DEMO_OUTPUT / LP_DEMO_LOG, so that run is
  the one checked here; elsewhere the test runs the demo itself on 3 frames."""
  if os.environ.get("LP_DEMO_OUTPUT"):
    out, frames = os.environ["LP_DEMO_OUTPUT"], 48
    with open(os.environ["LP_DEMO_LOG"], encoding="utf-8") as f:
      stdout = f.read()
  else:
    out, frames = tmp_path / "out", 3
    proc = demo(tmp_path, "--frames", str(frames), "--batch_size", "2", "--output_dir", str(out))
    assert proc.returncode == 0, proc.stderr
    stdout = proc.stdout
  assert "running the bundled demo model" in stdout and "not the official LivePortrait" in stdout
  cap = cv2.VideoCapture(os.path.join(out, "s12_crop--d0.mp4"))
  count = 0
  while cap.read()[0]:
    count += 1
  assert count == frames
  assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (512, 512)
  # No temporary file left behind.
  assert sorted(os.listdir(out)) == ["d0.npz", "s12_crop--d0.mp4", "s12_crop--d0_concat.mp4"]


@pytest.mark.parametrize("which", ["source", "driving"])
def test_demo_bad_input_is_one_line_error(tmp_path, which):
  bad = tmp_path / ("bad.jpg" if which == "source" else "bad.mp4")
  bad.write_text("not media")
  paths = {"source": SOURCE, "driving": DRIVING, which: str(bad)}
  out = tmp_path / "out"
  proc = demo(tmp_path, "--frames", "2", "--source", paths["source"], "--driving",
              paths["driving"], "--output_dir", str(out))
  assert proc.returncode != 0
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and str(bad) in lines[0]
  assert not out.exists()

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""python -m lp_jax.bench.faces: both face backends timed in one process on a real clip."""

import json
import os
import subprocess
import sys

from conftest import GOLDEN_DIR, SHARED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args):
  return subprocess.run([sys.executable, "-m", "lp_jax.bench.faces", *args], capture_output=True,
                        text=True, cwd=ROOT, timeout=600)


def test_times_both_backends_on_the_golden_face_models():
  proc = run("--face_models", os.path.join(GOLDEN_DIR, "detectors_seed0"), "--clip",
             os.path.join(SHARED, "assets", "driving", "d0.mp4"), "--frames", "3", "--rounds", "1")
  assert proc.returncode == 0, proc.stderr[-2000:]
  records = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
  assert records[0]["event"] == "machine" and records[0]["frames"] == 3
  times = {r["job"]: r for r in records[1:]}
  assert set(times) == {"track_203_per_frame", "detect_with_106", "det_10g_network",
                        "landmark_network"}
  for r in times.values():
    assert r["jax_ms"] > 0 and r["onnxruntime_ms"] > 0
    assert abs(r["ratio_jax_over_onnxruntime"] - r["jax_ms"] / r["onnxruntime_ms"]) < 0.01


def test_a_folder_without_the_models_is_one_line(tmp_path):
  proc = run("--face_models", str(tmp_path))
  assert proc.returncode == 1 and proc.stdout == ""
  assert proc.stderr.strip().splitlines() == [
      f"error: {tmp_path}: neither a pretrained_weights/ folder with the face models nor a "
      "folder holding det_10g.onnx, 2d106det.onnx, landmark.onnx"]

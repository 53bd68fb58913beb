# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`python -m lp_jax.bench_e2e`: the whole chain on a real clip with null networks, its stages
and runs as JSON lines ending with the frame rate; bad arguments are one line."""

import json
import os
import subprocess
import sys

import pytest

from lp_jax.io import ffmpeg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bench(*args) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", "lp_jax.bench_e2e", *args], capture_output=True,
                        text=True, cwd=ROOT, timeout=900)


@pytest.mark.slow
def test_null_networks_report_stages_runs_and_fps():
  proc = bench("--null_networks", "--frames", "12", "--repeats", "2", "--frame_size", "640x360",
               "--batch_size", "4")
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = [json.loads(line) for line in proc.stdout.splitlines()]
  assert lines[0]["networks"] == "null networks of the official shapes"
  assert lines[0]["frame_size"] == [640, 360] and lines[0]["frames"] == 12
  stages = [r for r in lines if "stage" in r]
  assert [r["stage"] for r in stages] == ["decode", "driving_crop", "networks (M, W+G)",
                                          "paste_back", "paste_back (plain cv2 path)", "encode",
                                          "encode (ffmpeg rgb->yuv)"]
  assert [r["stage"] for r in stages if r.get("reference")] == [
      "paste_back (plain cv2 path)", "encode (ffmpeg rgb->yuv)"]
  assert all(r["ms_per_frame"] > 0 for r in stages)
  runs = [r for r in lines if "run" in r]
  assert [r["frames"] for r in runs] == [12, 12] and all(r["fps"] > 0 for r in runs)
  last = lines[-1]
  assert set(last) >= {"fps", "ms_per_frame", "sum_of_stages_ms"}
  assert last["sum_of_stages_ms"] == pytest.approx(
      sum(r["ms_per_frame"] for r in stages if not r.get("reference")), abs=0.01)
  assert last["fps"] == sorted(r["fps"] for r in runs)[1] or last["fps"] == pytest.approx(
      sum(r["fps"] for r in runs) / 2)
  assert "end to end" in proc.stderr  # the table


def test_bad_arguments_are_one_line(tmp_path):
  proc = bench("--frame_size", "720p")
  assert proc.returncode == 2 and "expected WIDTHxHEIGHT" in proc.stderr.strip().splitlines()[-1]
  wide = tmp_path / "wide.mp4"
  subprocess.run([ffmpeg.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                  "testsrc=size=320x240:rate=25", "-frames:v", "4", "-pix_fmt", "yuv420p",
                  str(wide)], check=True)
  proc = bench("--null_networks", "--driving", str(wide))
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines() == [
      f"error: {wide}: cropping the driving video (320x240, not square) needs the face models, "
      "but the bench runs without them: give it a square driving clip"]

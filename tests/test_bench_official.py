# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`python -m lp_jax.bench --official DIR`: the side-by-side run, and its one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

# A checkout of github.com/KwaiVGI/LivePortrait: LP_OFFICIAL_DIR, else one made from the
# machine's git mirror of it (only the code: its large assets are not needed).
MIRROR = "/work/.mirror/KwaiVGI+LivePortrait/repo"


def bench(*args):
  env = dict(os.environ, PYTHONPATH=ROOT)
  return subprocess.run([sys.executable, "-m", "lp_jax.bench", *args], capture_output=True,
                        text=True, cwd=ROOT, env=env, timeout=900)


@pytest.fixture(scope="module")
def official_dir(tmp_path_factory):
  if os.environ.get("LP_OFFICIAL_DIR"):
    return os.environ["LP_OFFICIAL_DIR"]
  if not os.path.isdir(MIRROR):
    pytest.skip(f"no official checkout: set LP_OFFICIAL_DIR (no git mirror at {MIRROR})")
  dst = tmp_path_factory.mktemp("official")
  archive = subprocess.run(["git", "--git-dir", MIRROR, "archive", "HEAD", "src"],
                           capture_output=True, check=True).stdout
  subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
  return str(dst)


def test_missing_dir_is_a_one_line_error(tmp_path):
  proc = bench("--official", str(tmp_path / "absent"))
  assert proc.returncode != 0
  assert proc.stderr.strip().splitlines() == [
      f"error: {tmp_path / 'absent'}: no such directory (expected a checkout of "
      "github.com/KwaiVGI/LivePortrait)"]


def test_not_a_checkout_is_a_one_line_error(tmp_path):
  proc = bench("--official", str(tmp_path))
  assert proc.returncode != 0
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and str(tmp_path) in lines[0] and "not a LivePortrait checkout" in lines[0]


def test_threads_beyond_the_cores_is_a_one_line_error():
  proc = bench("--threads", "100000")
  assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.torch
def test_side_by_side_prints_both_frameworks(official_dir):
  pytest.importorskip("torch")
  proc = bench("--official", official_dir, "--networks", "F,M", "--rounds", "2", "--repeats",
               "1", "--threads", "1")
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.splitlines()
  records = [json.loads(line) for line in lines if line.startswith("{")]
  setup = records[0]
  assert setup["event"] == "setup" and setup["threads"] == 1 and setup["torch"] and setup["jax"]
  assert setup["processor"] and isinstance(setup["isa"], list)
  rows = records[1:]
  assert [r["network"] for r in rows] == ["F", "M"]
  for r in rows:
    assert r["calls"] == 2 and r["official_s"] > 0 and r["ours_s"] > 0
    assert r["ratio"] == pytest.approx(r["ours_s"] / r["official_s"], rel=0.01)
    fastest = r["ours_range_s"][0] / r["official_range_s"][0]
    assert r["ratio_min"] == pytest.approx(fastest, rel=0.01)
    assert r["official_matmul_gflops"] > 0 and r["ours_matmul_gflops"] > 0
    # Identical weights and inputs: the two frameworks computed the same outputs.
    assert r["max_abs_diff"] < 1e-4
  table = [line for line in lines if line.startswith("| F ") or line.startswith("| M ")]
  assert len(table) == 2 and setup["processor"] in proc.stdout

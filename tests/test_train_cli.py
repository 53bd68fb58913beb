# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""train.py's configuration errors are one line with exit status 1, before any training."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("override,words", [
    ("--config.batch_size=3", "config.batch_size 3 must be divisible by the 2 batch shards"),
    ("--config.data.root=/nonexistent/clips", "/nonexistent/clips: no such folder"),
])
def test_configuration_errors_are_one_line(tmp_path, override, words):
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=2")
  proc = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--config",
                         os.path.join(ROOT, "configs", "stage1.py") + ":tiny", "--workdir",
                         str(tmp_path / "w"), override], capture_output=True, text=True,
                        cwd=ROOT, env=env, timeout=300)
  lines = [l for l in proc.stderr.strip().splitlines() if l.startswith("error:")]
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert len(lines) == 1 and words in lines[0], proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  assert not (tmp_path / "w").exists()  # nothing written

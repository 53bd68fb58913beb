# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax's XLA:CPU options reach XLA (lp_jax/xla_flags.py), and the user's own settings win."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp

from lp_jax import xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTION = "xla_cpu_experimental_ynn_fusion_type"


def _narrow_conv_program(compiler_options=None) -> str:
  x, k = jnp.zeros((4, 16, 16, 32)), jnp.zeros((3, 3, 32, 96))
  conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), [(1, 1)] * 2,
                                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return jax.jit(conv).lower(x, k).compile(compiler_options=compiler_options).as_text()


def test_convolutions_run_in_xlas_own_kernel():
  """In this process (conftest imports lp_jax first): no conv is handed to YNNPACK."""
  assert f"--{OPTION}=" in os.environ["XLA_FLAGS"]
  text = _narrow_conv_program()
  assert "convolution(" in text and "ynn" not in text


def test_without_the_option_xla_would_use_ynnpack():
  """The check above can fail: with convolutions among YNNPACK's fusion types (XLA's default)
  the same conv becomes a YNNPACK fusion."""
  text = _narrow_conv_program({OPTION: "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"})
  assert "ynn" in text


def test_apply_adds_missing_options_and_keeps_the_users():
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
  assert xla_flags.apply(env) == xla_flags.CPU_OPTIONS
  assert env["XLA_FLAGS"] == ("--xla_force_host_platform_device_count=8 "
                              f"--{OPTION}=-individual_convolution")
  assert xla_flags.apply(env) == {}  # idempotent
  mine = {"XLA_FLAGS": f"--{OPTION}=+individual_convolution"}
  assert xla_flags.apply(mine) == {} and mine["XLA_FLAGS"] == f"--{OPTION}=+individual_convolution"
  empty = {}
  xla_flags.apply(empty)
  assert empty["XLA_FLAGS"] == f"--{OPTION}=-individual_convolution"


def test_only_tested_jaxlib_releases_get_the_options():
  """An XLA that does not know an option aborts the process: untested releases get none."""
  assert xla_flags.jaxlib_version() in xla_flags.TESTED_JAXLIB  # the pinned install
  for untested in ("0.6.0", "0.10.3", "1.0.0"):
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    assert xla_flags.apply(env, jaxlib=untested) == {}
    assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=8"
  env = {}
  assert xla_flags.apply(env, jaxlib=xla_flags.TESTED_JAXLIB[0]) == xla_flags.CPU_OPTIONS


def test_warns_when_jax_started_first():
  code = "import jax; jax.devices(); import lp_jax"
  env = dict(os.environ, XLA_FLAGS="", PYTHONPATH=ROOT)
  run = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], env=env,
                       capture_output=True, text=True, check=False)
  assert run.returncode != 0 and "import lp_jax first" in run.stderr
  quiet = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c",
                          "import lp_jax, jax; jax.devices()"], env=env, capture_output=True,
                         text=True, check=False)
  assert quiet.returncode == 0, quiet.stderr

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""XLA:CPU options for lp_jax's programs, added to XLA_FLAGS before JAX starts its CPU backend.

XLA:CPU (jax 0.10) hands convolutions to YNNPACK by default. YNNPACK runs a convolution with
few input channels on one core: F's 3x3x3 32 -> 32 convs (a 2-D conv 32 -> 96 once depth-
folded) took 36 ms on this 2-core machine, the same as pinned to one core. XLA's own Eigen
convolution spreads it over both: 17.6 ms (206 GFLOP/s). Of the conv shapes measured (F's, G's,
the hourglass's), Eigen was as fast or faster (64 -> 192 at 16x64x64: 119 -> 82 ms; the 7x7
mask conv 924 -> 745 ms; G's 1x1 256 -> 64 at 256x256: 59 -> 12 ms) except G's 3x3 64 -> 12
output conv (6.8 -> 11 ms). Whole networks, each pair compiled in one process: F 0.362 ->
0.342 s, W 1.60 -> 1.59 s, G 2.79 -> 2.77 s, M unchanged. Dots and reductions stay with
YNNPACK.

`import lp_jax` applies them (XLA reads XLA_FLAGS once, when the backend starts). Options the
user already set in XLA_FLAGS win; a process that ran JAX before importing lp_jax keeps its
backend as it is, with a warning. An XLA that does not know an option aborts the process, and
the option is experimental, so it is set only under the jaxlib releases it was tested with.
"""

import importlib.metadata
import os
import sys
import warnings

# Every option lp_jax sets, as XLA_FLAGS entries: the option's name and its value.
CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "-individual_convolution"}
# The jaxlib releases whose XLA was run with CPU_OPTIONS (the base install pins one of them).
TESTED_JAXLIB = ("0.10.2",)


def jaxlib_version() -> str | None:
  """The installed jaxlib's version, read without importing it (None when not installed)."""
  try:
    return importlib.metadata.version("jaxlib")
  except importlib.metadata.PackageNotFoundError:
    return None


def missing(flags: str) -> dict:
  """The CPU_OPTIONS that `flags` (an XLA_FLAGS string) does not set."""
  present = {entry.lstrip("-").split("=", 1)[0] for entry in flags.split()}
  return {name: value for name, value in CPU_OPTIONS.items() if name not in present}


def apply(environ=os.environ, jaxlib: str | None = None) -> dict:
  """Adds the CPU_OPTIONS the user did not set to environ['XLA_FLAGS']; returns those added.

  Nothing is added unless `jaxlib` (default: the installed version) is in TESTED_JAXLIB.
  """
  if (jaxlib or jaxlib_version()) not in TESTED_JAXLIB:
    return {}
  flags = environ.get("XLA_FLAGS", "")
  added = missing(flags)
  if not added:
    return {}
  if environ is os.environ and _backend_started():
    warnings.warn("lp_jax: JAX's backend started before lp_jax was imported, so XLA:CPU runs "
                  f"without {sorted(added)} (slower convolutions); import lp_jax first",
                  stacklevel=3)
  environ["XLA_FLAGS"] = " ".join(flags.split() +
                                  [f"--{name}={value}" for name, value in added.items()])
  return added


def _backend_started() -> bool:
  if "jax" not in sys.modules:  # no JAX yet, so no backend
    return False
  from jax._src import xla_bridge  # pylint: disable=import-outside-toplevel
  started = getattr(xla_bridge, "backends_are_initialized", None)  # private: may move
  return bool(started and started())

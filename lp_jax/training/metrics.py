# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Metric writing (JSON lines + absl log, optional TensorBoard) and the NaN/Inf guard.

Only process 0 writes; other processes get a writer that does nothing, so callers need no
`if jax.process_index() == 0`. TensorBoard event files are written when `tensorboardX` is
installed (a small pure-Python package); it is not a dependency, so without it the run logs once
that TensorBoard is off and keeps the JSONL, which is the machine-readable record.
"""

import json
import math
import os
import time
from typing import Mapping

import jax
import numpy as np
from absl import logging


class MetricWriter:
  """Appends {"step": s, **scalars} lines to `<workdir>/metrics.jsonl` (process 0 only)."""

  def __init__(self, workdir: str, filename: str = "metrics.jsonl", tensorboard: bool = True):
    self.active = jax.process_index() == 0
    self.path = os.path.join(workdir, filename)
    self._tb = None
    if not self.active:
      return
    os.makedirs(workdir, exist_ok=True)
    if tensorboard:
      try:
        # An optional dependency: imported only here, where its absence just turns TB off.
        import tensorboardX  # pylint: disable=g-import-not-at-top
        self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard"))
      except ImportError:
        logging.info("tensorboardX is not installed: TensorBoard event files are off "
                     "(metrics go to %s)", self.path)

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    if not self.active:
      return
    record = {"step": int(step), **{k: _py(v) for k, v in sorted(scalars.items())}}
    # Line-buffered append + flush: a SIGKILL loses at most the line being written.
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    if self._tb is not None:
      for k, v in record.items():
        if k != "step" and isinstance(v, (int, float)):
          self._tb.add_scalar(k, v, step)
      self._tb.flush()
    logging.info("step %d: %s", step, ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in record.items() if k != "step" and not k.startswith("l2_")))

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def _py(v):
  v = np.asarray(v)
  return float(v) if v.dtype.kind == "f" else int(v) if v.dtype.kind in "iub" else str(v)


def read_jsonl(path: str) -> list[dict]:
  """All records of a metrics file (a torn last line from a kill is skipped)."""
  out = []
  if not os.path.exists(path):
    return out
  with open(path) as f:
    for line in f:
      try:
        out.append(json.loads(line))
      except json.JSONDecodeError:
        pass
  return out


def check_finite(step: int, scalars: Mapping[str, float]) -> None:
  """Raises FloatingPointError naming the step and every non-finite term (loss terms first).

  The total is non-finite whenever a term is, so terms are listed before totals and gradient
  norms: the first name in the message is the one that diverged.
  """
  bad = [k for k, v in scalars.items() if not math.isfinite(float(v))]
  if not bad:
    return
  order = lambda k: (not k.startswith("loss/"), "total" in k, k)
  bad.sort(key=order)
  values = ", ".join(f"{k}={float(scalars[k])}" for k in bad)
  raise FloatingPointError(f"non-finite {bad[0]} at step {step} (all non-finite: {values})")


class StepTimer:
  """Steps/s over the steps since the last `rate()` call (excludes the first, compiling step)."""

  def __init__(self):
    self._t, self._n = None, 0

  def tick(self, steps: int = 1) -> None:
    if self._t is None:
      self._t = time.perf_counter()
      return
    self._n += steps

  def rate(self) -> float | None:
    if self._t is None or self._n == 0:
      return None
    now = time.perf_counter()
    r = self._n / max(now - self._t, 1e-9)
    self._t, self._n = now, 0
    return r

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The progress line of infer.py: frames done and frames per second, rewritten in place."""

import sys
import time


class Progress:
  """A one-line frames / fps progress report on stderr (silent when quiet)."""

  def __init__(self, total: int | None, quiet: bool, label: str = "animating"):
    self.total, self.quiet, self.label = total, quiet, label
    self.done, self.start = 0, time.perf_counter()
    self.first_frame_s = None

  def update(self, n: int) -> None:
    if self.first_frame_s is None:
      self.first_frame_s = time.perf_counter() - self.start
    self.done += n
    if not self.quiet:
      rate = self.done / max(time.perf_counter() - self.start, 1e-9)
      total = f"/{self.total}" if self.total else ""
      print(f"\r{self.label}: {self.done}{total} frames, {rate:.2f} fps", end="",
            file=sys.stderr, flush=True)

  def close(self) -> None:
    if not self.quiet and self.done:
      print(file=sys.stderr, flush=True)

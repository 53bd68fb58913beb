# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The progress line of infer.py, and where the time to its first frame went.

A user waits for the first frame from the moment the command starts: the interpreter and the
imports, the devices, the weights, compiling the programs (or reading them from JAX's
persistent compilation cache), then the first batch. `StartupClock` measures from the start of
the process (a command-line run) or of the run (one called in a longer-lived process, such as
the web app) and splits the time to the first frame into those parts, so that a slow start
says what made it slow.
"""

import os
import sys
import time

import jax

# JAX's own timings of top-level jitted programs (nested calls are part of their caller's):
# tracing, lowering to StableHLO, and XLA compilation or the persistent-cache read that
# replaces it.
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")

# A process older than this when its first run starts was not started for that run (a notebook,
# a test session): the run is timed from its own start.
MAX_STARTUP_S = 60.0

_compile_seconds = 0.0
_listening = False
_process_clock_taken = False


def _on_duration(event: str, duration: float, **kwargs) -> None:
  global _compile_seconds
  if event in COMPILE_EVENTS:
    _compile_seconds += duration


def compile_seconds() -> float:
  """Seconds spent compiling (see COMPILE_EVENTS) since the first call of this function."""
  global _listening
  if not _listening:
    jax.monitoring.register_event_duration_secs_listener(_on_duration)
    _listening = True
  return _compile_seconds


def process_age() -> float | None:
  """Seconds since this process started (Linux /proc, 10 ms resolution); None elsewhere."""
  try:
    with open("/proc/self/stat", "rb") as f:
      # Field 22, counted after the parenthesised command name, which may hold spaces.
      start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
    with open("/proc/uptime", "rb") as f:
      uptime = float(f.read().split()[0])
    return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
  except (OSError, ValueError, IndexError):
    return None


class StartupClock:
  """Marks of one run on time.perf_counter(), from `origin`: `process_start` (a perf_counter
  time) when given, else the clock's creation.

  `for_process()` starts at the process's start (the first call in a process, within
  MAX_STARTUP_S of it; otherwise when it is called). `mark(name)` records the time and the
  compile seconds so far; `breakdown()` splits the time to the 'first_frame' mark.
  """

  def __init__(self, process_start: float | None = None):
    now = time.perf_counter()
    self.from_process_start = process_start is not None  # else from the run's start
    self.origin = now if process_start is None else process_start
    self.marks = {"origin": (self.origin, compile_seconds()), "run": (now, compile_seconds())}

  @classmethod
  def for_process(cls) -> "StartupClock":
    global _process_clock_taken
    age = None if _process_clock_taken else process_age()
    _process_clock_taken = True
    if age is None or age > MAX_STARTUP_S:
      return cls()
    return cls(time.perf_counter() - age)

  def mark(self, name: str) -> None:
    self.marks[name] = (time.perf_counter(), compile_seconds())

  def since_origin(self, name: str | None = None) -> float:
    """Seconds from the origin to mark `name` (default: now)."""
    return (self.marks[name][0] if name else time.perf_counter()) - self.origin

  def breakdown(self) -> dict | None:
    """Seconds from the origin to the first frame, by part (None before the first frame):
    imports (process start to the run), inputs (devices, reading and preparing the inputs),
    weights (reading, checking and moving them to the device), compile (see COMPILE_EVENTS,
    wherever it happened), first_batch (the rest: the first batch's computation and host
    work). The parts add up to the time to the first frame."""
    if "first_frame" not in self.marks or "weights" not in self.marks:
      return None

    def span(a, b):  # (seconds, of which compiling) between two marks
      (ta, ca), (tb, cb) = self.marks[a], self.marks[b]
      return tb - ta, cb - ca

    inputs, inputs_c = span("run", "weights_start")
    weights, weights_c = span("weights_start", "weights")
    rest, rest_c = span("weights", "first_frame")
    parts = {"imports": span("origin", "run")[0], "inputs": inputs - inputs_c,
             "weights": weights - weights_c, "compile": inputs_c + weights_c + rest_c,
             "first_batch": rest - rest_c}
    return {k: round(v, 2) for k, v in parts.items()}


class Progress:
  """A one-line frames / fps progress report on stderr (silent when quiet); the first frame is
  marked on `clock` when given."""

  def __init__(self, total: int | None, quiet: bool, label: str = "animating",
               clock: StartupClock | None = None):
    self.total, self.quiet, self.label, self.clock = total, quiet, label, clock
    self.done, self.start = 0, time.perf_counter()
    self.first_frame_s = None  # seconds from the clock's origin (else from here)

  def update(self, n: int) -> None:
    if self.first_frame_s is None:
      if self.clock is None:
        self.first_frame_s = time.perf_counter() - self.start
      else:
        self.clock.mark("first_frame")
        self.first_frame_s = self.clock.since_origin("first_frame")
    self.done += n
    if not self.quiet:
      rate = self.done / max(time.perf_counter() - self.start, 1e-9)
      total = f"/{self.total}" if self.total else ""
      print(f"\r{self.label}: {self.done}{total} frames, {rate:.2f} fps", end="",
            file=sys.stderr, flush=True)

  def close(self) -> None:
    if not self.quiet and self.done:
      print(file=sys.stderr, flush=True)

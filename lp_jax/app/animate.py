# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The Animate action: the official app's animation controls turned into an `infer.py` command
line, parsed by infer.py's own parser and run by `lp_jax.inference.run.prepare(args).write()`,
so the app and the CLI behave the same (`run.run` itself installs a SIGTERM handler, which only
the main thread may do; Gradio runs actions on worker threads).

`infer.py` reports progress on stderr as `\\ranimating: n/N frames, x fps`; `ThreadStderr`
hands the lines written by the running job's own thread to the job (other threads' output
passes through untouched), which turns them into the page's progress bar.
"""

import dataclasses
import io
import os
import re
import sys
import threading

from lp_jax.errors import InputError
from lp_jax.inference import cli
from lp_jax.inference import run as infer_run

# The crop controls of the official app, named as infer.py's flags.
CROP_FLAGS = ("scale", "vx_ratio", "vy_ratio", "scale_crop_driving_video",
              "vx_ratio_crop_driving_video", "vy_ratio_crop_driving_video")
_PROGRESS = re.compile(r"(\w[\w ]*): (\d+)(?:/(\d+))? frames, ([\d.]+) fps")


class ThreadStderr(io.TextIOBase):
  """sys.stderr replacement: writes go to the real stream, and also to the calling thread's
  listener when it has one (set with `listen`)."""

  def __init__(self, stream):
    super().__init__()
    self.stream = stream
    self._local = threading.local()

  @classmethod
  def install(cls) -> "ThreadStderr":
    if not isinstance(sys.stderr, cls):
      sys.stderr = cls(sys.stderr)
    return sys.stderr

  def listen(self, fn) -> None:
    self._local.fn = fn

  def write(self, text: str) -> int:
    fn = getattr(self._local, "fn", None)
    if fn is not None:
      fn(text)
    return self.stream.write(text)

  def flush(self) -> None:
    self.stream.flush()

  def fileno(self) -> int:
    return self.stream.fileno()

  def isatty(self) -> bool:
    return False


@dataclasses.dataclass
class JobOutput:
  """What a run of infer.py left in its output folder."""
  video: str | None = None
  video_concat: str | None = None
  image: str | None = None
  image_concat: str | None = None


class _Listener:
  """Collects a job's stderr lines, and reports progress lines through `on_progress`."""

  def __init__(self, on_progress):
    self.on_progress = on_progress
    self.lines = []
    self._buf = ""

  def __call__(self, text: str) -> None:
    self._buf += text
    parts = re.split(r"[\r\n]", self._buf)
    self._buf = parts.pop()
    for part in parts:
      self._line(part)

  def _line(self, line: str) -> None:
    if not line.strip():
      return
    self.lines.append(line)
    m = _PROGRESS.search(line)
    if m and self.on_progress:
      self.on_progress(int(m.group(2)), int(m.group(3)) if m.group(3) else None,
                       float(m.group(4)))


def command_line(source: str, driving: str, out_dir: str, controls: dict, *, weights: str,
                 face_root: str | None, lip_array: str | None, max_frames: int | None,
                 batch_size: int) -> list[str]:
  """infer.py arguments for the official app's animation controls (official flag names)."""
  argv = ["-s", source, "-d", driving, "-o", out_dir, "-w", weights,
          "--batch_size", str(batch_size), "--save_template", "none"]
  if face_root:
    argv += ["--face_models", face_root]
  if lip_array:
    argv += ["--lip_array", lip_array]
  if max_frames:
    argv += ["--max_frames", str(max_frames)]
  for name in ("flag_normalize_lip", "flag_relative_motion", "flag_do_crop", "flag_pasteback",
               "flag_stitching", "flag_crop_driving_video"):
    argv.append(f"--{name}" if controls[name] else f"--no_{name}")
  argv += ["--animation_region", controls["animation_region"],
           "--driving_option", controls["driving_option"],
           "--driving_multiplier", repr(float(controls["driving_multiplier"])),
           "--driving_smooth_observation_variance",
           repr(float(controls["driving_smooth_observation_variance"]))]
  for name in CROP_FLAGS:
    argv += [f"--{name}", repr(float(controls[name]))]
  return argv


def run(argv: list[str], out_dir: str, on_progress=None) -> JobOutput:
  """Runs infer.py's job in this thread; returns its outputs.

  Raises:
    InputError: a setting infer.py's parser refuses (one line).
    The errors of infer.py's inputs (lp_jax.errors.UserError).
  """
  stderr = ThreadStderr.install()
  listener = _Listener(on_progress)
  stderr.listen(listener)
  try:
    try:
      args = cli.build_parser().parse_args(argv)
    except SystemExit:
      listener("\n")
      usage = [l for l in listener.lines if ": error: " in l]
      raise InputError(usage[-1].split(": error: ", 1)[1] if usage
                       else "invalid animation settings") from None
    infer_run.prepare(args).write()
  finally:
    stderr.listen(None)
  out = JobOutput()
  for name in sorted(os.listdir(out_dir)):
    path = os.path.join(out_dir, name)
    if name.endswith("_concat.mp4"):
      out.video_concat = path
    elif name.endswith(".mp4"):
      out.video = path
    elif name.endswith("_concat.jpg"):
      out.image_concat = path
    elif name.endswith(".jpg"):
      out.image = path
  if out.video is None and out.image is None:
    raise ValueError("the animation wrote no output")
  return out

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The ffmpeg binary that imageio-ffmpeg ships (no system ffmpeg is needed), and its exit codes.

Every video operation runs it with the arguments the official code ends up using (imageio's
ffmpeg reader / writer), so frames and files match the official pipeline's.
"""

import imageio_ffmpeg


def exit_reason(returncode: int) -> str:
  """Why ffmpeg stopped, for a message, from its return code."""
  if returncode < 0:
    return f"ffmpeg was killed by signal {-returncode}"
  return f"ffmpeg exited with status {returncode}"


def ffmpeg_exe() -> str:
  """Path of the ffmpeg binary bundled with imageio-ffmpeg (no system ffmpeg is needed)."""
  return imageio_ffmpeg.get_ffmpeg_exe()

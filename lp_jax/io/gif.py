# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Video -> GIF with the official animal pipeline's two-pass palette recipe."""

import os
import subprocess

from lp_jax.io import ffmpeg, outputs
from lp_jax.io.errors import MediaError, one_line

GIF_FILTER = "fps=30,scale=256:-1:flags=lanczos"  # the official animal-pipeline GIF recipe


def write_gif(mp4_path: str, gif_path: str) -> str:
  """Converts a video to a GIF with the official two-pass palette recipe; returns the GIF path.

  `fps=30,scale=256:-1:flags=lanczos` then palettegen, and the same chain into paletteuse. The
  palette and the GIF are written under temporary names beside `gif_path`; the GIF is renamed
  into place only when ffmpeg succeeded.
  """
  gif_path = os.path.abspath(gif_path)
  if not os.path.isfile(mp4_path):
    raise MediaError(f"{mp4_path}: no such file")
  os.makedirs(os.path.dirname(gif_path), exist_ok=True)
  palette = outputs.partial_name(gif_path, ".palette", ".png")
  exe = ffmpeg.ffmpeg_exe()
  try:
    with outputs.replacing(gif_path) as tmp:
      steps = [
          [exe, "-y", "-nostdin", "-v", "error", "-i", mp4_path, "-vf",
           f"{GIF_FILTER},palettegen", palette],
          [exe, "-y", "-nostdin", "-v", "error", "-i", mp4_path, "-i", palette,
           "-filter_complex", f"{GIF_FILTER}[x];[x][1:v]paletteuse", tmp],
      ]
      for cmd in steps:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if proc.returncode != 0:
          raise MediaError(f"{gif_path}: making the GIF from {mp4_path} failed "
                           f"({one_line(proc.stderr.decode('utf-8', 'replace'))})")
  finally:
    outputs.remove(palette)
  return gif_path

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""What an input path is: an image, a video (or a folder of frames) or a motion template."""

import os

from lp_jax.io.errors import MediaError

# The official helper.py rules (is_image / is_video / is_template), compared case-insensitively.
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".mov", ".avi", ".webm")
# Official templates are pickles; ours are .npz archives (lp_jax.motion_template reads both).
TEMPLATE_EXTS = (".pkl", ".npz")


def ext(path: str) -> str:
  """The lower-case extension of `path` (a trailing slash ignored)."""
  return os.path.splitext(path.rstrip("/\\"))[1].lower()


def is_image(path: str) -> bool:
  return not os.path.isdir(path) and ext(path) in IMAGE_EXTS


def is_video(path: str) -> bool:
  # A directory counts as a video of frames, like the official is_video.
  return os.path.isdir(path) or ext(path) in VIDEO_EXTS


def is_template(path: str) -> bool:
  return not os.path.isdir(path) and ext(path) in TEMPLATE_EXTS


def classify(path: str) -> str:
  """'image', 'video' or 'template' for an existing input path, by the official rules."""
  if not os.path.exists(path):
    raise MediaError(f"{path}: no such file")
  if is_video(path):
    return "video"
  if is_image(path):
    return "image"
  if is_template(path):
    return "template"
  raise MediaError(
      f"{path}: unknown input type {ext(path) or '(no extension)'} (expected an image "
      f"{'/'.join(IMAGE_EXTS)}, a video {'/'.join(VIDEO_EXTS)} or a folder of frames, or a "
      f"motion template {'/'.join(TEMPLATE_EXTS)})")

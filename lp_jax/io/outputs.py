# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Output files appear only once complete: they are written under a temporary name in the
destination folder and renamed into place, so a failure or an interrupt never leaves a
half-written result behind."""

import os


def partial_name(path: str, suffix: str = "") -> str:
  """`<name>.partial-<pid><suffix><ext>` beside `path`: same folder, so os.replace is atomic."""
  stem, ext = os.path.splitext(path)
  return f"{stem}.partial-{os.getpid()}{suffix}{ext}"


def remove(path: str) -> None:
  """Deletes `path` if it exists."""
  try:
    os.remove(path)
  except FileNotFoundError:
    pass

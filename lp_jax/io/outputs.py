# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Output files appear only once complete: they are written under a temporary name in the
destination folder and renamed into place, so a failure or an interrupt never leaves a
half-written result behind."""

import contextlib
import os
import shutil
from typing import BinaryIO, Callable, Iterator


def partial_name(path: str, suffix: str = "", ext: str | None = None) -> str:
  """`<name>.partial-<pid><suffix><ext>` beside `path`: same folder, so os.replace is atomic.

  `ext` defaults to the extension of `path`, by which writers such as cv2 and ffmpeg pick the
  format.
  """
  stem, own_ext = os.path.splitext(path)
  return f"{stem}.partial-{os.getpid()}{suffix}{own_ext if ext is None else ext}"


def remove(path: str) -> None:
  """Deletes the file or folder `path` if it exists."""
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path, ignore_errors=True)
    return
  try:
    os.remove(path)
  except FileNotFoundError:
    pass


@contextlib.contextmanager
def replacing(path: str, suffix: str = "", ext: str | None = None) -> Iterator[str]:
  """Yields partial_name(path, suffix, ext) to write a file or a folder under.

  When the block ends normally the result takes the place of `path` (a folder replaces whatever
  is there); when it raises, an interrupt included, the temporary is deleted.
  """
  tmp = partial_name(path, suffix, ext)
  remove(tmp)  # left by an earlier process that had the same pid
  try:
    yield tmp
    if os.path.isdir(tmp):
      remove(path)  # os.replace cannot put a folder over a file or a non-empty folder
    os.replace(tmp, path)
  finally:
    remove(tmp)  # a no-op after a successful rename


def write_file(path: str, write: Callable[[BinaryIO], object]) -> None:
  """Writes `path` through `write(f)` on a binary file, synced to disk before the rename, so
  even a crash of the machine leaves the old file or the whole new one."""
  path = os.path.abspath(os.fspath(path))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with replacing(path) as tmp, open(tmp, "wb") as f:
    write(f)
    f.flush()
    os.fsync(f.fileno())

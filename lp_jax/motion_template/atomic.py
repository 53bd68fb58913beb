# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Writing a template file so that a reader never sees it half written."""

import contextlib
import os
import secrets

from lp_jax.motion_template.errors import TemplateError, describe


def atomic_write(path, write, label: str):
  """Writes through a temporary file in the same folder, then renames it over `path`, so a
  reader never sees a partial file and a failed write leaves no file behind."""
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
  try:
    os.makedirs(folder, exist_ok=True)
    # os.open (unlike mkstemp's 0600) leaves the permissions to the umask, as a plain open would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
  except OSError as e:
    raise TemplateError(label, f"cannot be written ({describe(e)})") from e
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as e:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    if isinstance(e, OSError):
      raise TemplateError(label, f"cannot be written ({describe(e)})") from e
    raise

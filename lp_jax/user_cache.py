# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax's cache folder ($LP_JAX_CACHE, default ~/.cache/lp_jax): what a run can rebuild.

Converted official weights, JAX's persistent compilation cache, restored checkpoints and the
variable shapes the model code expects are kept there, so that a second run starts without
redoing them. Everything in it is keyed by what produced it: deleting the folder costs time,
never results. A cache that cannot be written (a read-only home) only makes runs slower.
"""

import hashlib
import os

from lp_jax.io import outputs

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def root() -> str:
  return os.environ.get("LP_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache",
                                                      "lp_jax"))


def source_digest(*packages: str) -> str:
  """A digest of the Python sources of lp_jax's `packages` (e.g. "models"; none: all of
  lp_jax): entries computed from what that code does are invalidated by any edit of it."""
  digest = hashlib.sha256()
  for package in packages or (".",):
    for folder, dirs, files in os.walk(os.path.join(_PACKAGE, package)):
      dirs.sort()
      for name in sorted(f for f in files if f.endswith(".py")):
        full = os.path.join(folder, name)
        digest.update(os.path.relpath(full, _PACKAGE).encode() + b"\0")
        with open(full, "rb") as f:
          digest.update(hashlib.sha256(f.read()).digest())
  return digest.hexdigest()


def read(kind: str, key: str) -> bytearray | None:
  """The entry `key` of the cache's `kind` folder (None when absent or unreadable), in a
  writable buffer: arrays viewing it need no copy to be writable."""
  try:
    with open(os.path.join(root(), kind, key), "rb") as f:
      buf = bytearray(os.fstat(f.fileno()).st_size)
      if f.readinto(buf) != len(buf):
        return None
      return buf
  except OSError:
    return None


def write(kind: str, key: str, data: bytes | bytearray) -> None:
  """Stores an entry atomically (readers see the old entry or the whole new one); a cache that
  cannot be written is skipped."""
  try:
    outputs.write_file(os.path.join(root(), kind, key), lambda f: f.write(data))
  except OSError:
    pass

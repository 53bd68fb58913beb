# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A converted-weights directory: `checkpoint/` (Orbax, one pytree {network: variables}) and
`manifest.json` (lp_jax.weights.manifest), written atomically.

Restoring through Orbax costs about a second on a 2-core CPU even for the small demo model
(importing it and its TensorStore, opening the OCDBT store), a sixth of what inference took to
start with a warm compilation cache. `load(path, cache=True)` therefore keeps the restored
arrays in the user cache (lp_jax.user_cache) as one flat file keyed by the checkpoint's files
(path, size, modification time), which a later run reads in one go without importing Orbax.
"""

import hashlib
import json
import os
import struct

import jax.numpy as jnp
import numpy as np

from lp_jax import user_cache
from lp_jax.io import outputs
from lp_jax.weights.errors import ConversionError

MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint"


def check_destination(dst: str, force: bool) -> None:
  """Refuses a non-empty `dst` unless forced (called before any work, and again when saving)."""
  occupied = os.path.isfile(dst) or (os.path.isdir(dst) and os.listdir(dst))
  if occupied and not force:
    raise ConversionError(f"{dst}: already exists and is not empty (pass --force to replace it)")


def save(dst: str, variables: dict, manifest: dict, force: bool = False) -> None:
  """Writes checkpoint/ and manifest.json into `dst` atomically (a temp dir, then a rename)."""
  dst = os.path.abspath(dst)
  check_destination(dst, force)
  with outputs.replacing(dst) as tmp:
    os.makedirs(tmp)
    ckpt = _checkpointer()
    ckpt.save(os.path.join(tmp, CHECKPOINT), variables)
    ckpt.wait_until_finished()
    with open(os.path.join(tmp, MANIFEST), "w") as f:
      json.dump(manifest, f, indent=1, sort_keys=True)


def _checkpointer():
  # Imported on use: a run that reads its weights from the user cache never loads Orbax and
  # TensorStore (a third of a second).
  import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
  return ocp.StandardCheckpointer()


def is_orbax_dir(path: str) -> bool:
  return os.path.isfile(os.path.join(path, MANIFEST)) and os.path.isdir(
      os.path.join(path, CHECKPOINT))


def read_manifest(path: str) -> dict:
  """The manifest of the converted directory `path` (OSError / ValueError when unreadable)."""
  with open(os.path.join(path, MANIFEST)) as f:
    return json.load(f)


def load(path: str, cache: bool = False) -> tuple[dict, dict]:
  """({network: variables as numpy}, manifest) from a converted directory; with `cache`, through
  the user cache of restored checkpoints (see the module docstring)."""
  if not is_orbax_dir(path):
    raise ConversionError(f"{path}: not an lp_jax checkpoint (expected {MANIFEST} and "
                          f"{CHECKPOINT}/ written by `python -m convert_weights`)")
  try:
    manifest = read_manifest(path)
  except ValueError as e:  # a damaged file is the user's to fix, not a bug: one line
    raise ConversionError(f"{path}: {MANIFEST} is not valid JSON ({e})") from None
  checkpoint = os.path.abspath(os.path.join(path, CHECKPOINT))
  key = _restored_key(checkpoint) if cache else None
  tree = _read_restored(key) if key else None
  if tree is None:
    tree = _checkpointer().restore(checkpoint)
    tree = {k: _to_numpy(v) for k, v in tree.items()}
    if key:
      user_cache.write(RESTORED_KIND, key, _flat_bytes(tree))
  return tree, manifest


def _to_numpy(tree):
  if isinstance(tree, dict):
    return {k: _to_numpy(v) for k, v in tree.items()}
  return np.asarray(tree)


# -- the user cache of restored checkpoints ------------------------------------------------------
# One file: an 8-byte little-endian length, a JSON index [[path, dtype, shape, offset], ...], then
# every array's bytes at its offset (aligned for any dtype).

RESTORED_KIND = "restored-checkpoints"
_FORMAT = "lp_jax restored checkpoint 1"
_ALIGN = 64


def _restored_key(checkpoint: str) -> str | None:
  """A key of the checkpoint's files (None when it cannot be listed)."""
  digest = hashlib.sha256(f"{_FORMAT}\0{checkpoint}\0".encode())
  try:
    for folder, dirs, files in os.walk(checkpoint):
      dirs.sort()
      for name in sorted(files):
        full = os.path.join(folder, name)
        st = os.stat(full)
        digest.update(f"{os.path.relpath(full, checkpoint)}:{st.st_size}:{st.st_mtime_ns};"
                      .encode())
  except OSError:
    return None
  return digest.hexdigest()[:32]


def _leaves(tree, prefix=()):
  for k, v in tree.items():
    if isinstance(v, dict):
      yield from _leaves(v, prefix + (k,))
    else:
      yield prefix + (k,), v


def _flat_bytes(tree: dict) -> bytearray:
  leaves = [(path, np.ascontiguousarray(v)) for path, v in _leaves(tree)]
  index, offset = [], 0
  for path, v in leaves:
    index.append([list(path), v.dtype.name, list(v.shape), offset])
    offset += -(-v.nbytes // _ALIGN) * _ALIGN
  head = json.dumps(index).encode()
  start = -(-(8 + len(head)) // _ALIGN) * _ALIGN
  out = bytearray(start + offset)
  out[:8] = struct.pack("<Q", len(head))
  out[8:8 + len(head)] = head
  for (_, v), (*_, at) in zip(leaves, index):
    out[start + at:start + at + v.nbytes] = v.tobytes()
  return out


def _read_restored(key: str) -> dict | None:
  """The cached tree (writable numpy arrays), or None when absent or damaged."""
  data = user_cache.read(RESTORED_KIND, key)
  if data is None or len(data) < 8:
    return None
  try:
    (size,) = struct.unpack("<Q", data[:8])
    index = json.loads(data[8:8 + size])
    start = -(-(8 + size) // _ALIGN) * _ALIGN
    tree = {}
    for path, dtype, shape, at in index:
      dtype = np.dtype(jnp.dtype(dtype))
      count = int(np.prod(shape))
      if start + at + count * dtype.itemsize > len(data):
        return None
      node = tree
      for k in path[:-1]:
        node = node.setdefault(k, {})
      # Writable views of the writable buffer, like the arrays Orbax returns.
      node[path[-1]] = np.frombuffer(data, dtype, count, start + at).reshape(shape)
    return tree
  except (ValueError, TypeError, KeyError, struct.error):
    return None

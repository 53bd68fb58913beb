# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Reads legacy (pre-1.6) ``torch.save`` files into numpy arrays without importing torch.

Older files such as the 2017 torchvision VGG and the 2018 HopeNet ones use this stream:
pickle(magic) pickle(protocol) pickle(sys_info) pickle(obj) pickle(sorted storage keys), then per
key an int64 little-endian element count and the raw little-endian elements. Tensors in `obj`
refer to storages that only appear after it, so they are built in a second pass. The saved
object is read by the same allow-listed `TensorUnpickler` as the zip container (one allow-list
and one bounds-checked array builder for both formats); the header pickles and the key list may
hold plain Python data only.
"""

import io
import os
import pickletools
import struct
import typing

import numpy as np

from lp_jax.io.safe_pickle import AllowListUnpickler
from lp_jax.weights.errors import CheckpointError, UnsafePickleError
from lp_jax.weights.torch_tensors import Storage, StorageType, TensorUnpickler

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
PROTOCOL = 1001


class _Deferred(typing.NamedTuple):
  """A tensor whose storage bytes follow the pickle: (storage key, offset, size, stride)."""
  key: str
  offset: typing.Any
  size: typing.Any
  stride: typing.Any


class _StorageRef(typing.NamedTuple):
  key: str
  dtype: np.dtype
  numel: int


class _NoGlobals(AllowListUnpickler):
  """For the header pickles and the key list: plain Python data only (an empty allow-list)."""

  def __init__(self, file, path: str):
    super().__init__(file, encoding="utf-8")
    self.path = path

  def refuse(self, problem: str) -> CheckpointError:
    return CheckpointError(self.path, problem)

  def refuse_global(self, qualified_name: str) -> UnsafePickleError:
    return UnsafePickleError(self.path, f"refused to unpickle global '{qualified_name}' in a "
                             "header pickle")


class _LegacyUnpickler(TensorUnpickler):
  """The allow-listed tensor unpickler with legacy persistent ids and deferred tensors."""

  def __init__(self, data: bytes, path: str):
    super().__init__(data, path, big_endian=False)
    self.storages: dict[str, _StorageRef] = {}

  def persistent_load(self, pid):
    """('storage', storage_type, key, location, numel, view_metadata) -> a storage reference."""
    if not isinstance(pid, tuple) or len(pid) != 6 or pid[0] != "storage":
      raise self.refuse(f"unsupported legacy persistent id {pid!r:.80}")
    _, storage_type, key, _, numel, view = pid
    if not isinstance(storage_type, StorageType):
      raise self.refuse(f"unknown storage type {storage_type!r:.80}")
    if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
      raise self.refuse(f"malformed storage persistent id {pid!r:.80}")
    if view is not None:
      raise self.refuse("storage views (torch < 0.4 files) are not supported; re-save the file")
    ref = _StorageRef(key, storage_type.dtype, numel)
    if self.storages.setdefault(key, ref) != ref:
      raise self.refuse(f"storage {key!r} is declared twice with different types or sizes")
    return ref

  def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, *unused):
    del unused
    return self._defer(storage, storage_offset, size, stride)

  def _rebuild_tensor(self, storage, storage_offset, size, stride):
    return self._defer(storage, storage_offset, size, stride)

  def _rebuild_tensor_v3(self, *args):
    raise self.refuse("_rebuild_tensor_v3 in a legacy file")

  def _rebuild_parameter(self, data, *unused):
    del unused
    if not isinstance(data, _Deferred):
      raise self.refuse(f"parameter data is not a tensor but {type(data).__name__}")
    return data

  def _defer(self, storage, offset, size, stride):
    if not isinstance(storage, _StorageRef):
      raise self.refuse(f"tensor storage is not a storage but {type(storage).__name__}")
    return _Deferred(storage.key, offset, size, stride)

  def resolve(self, obj, storages: dict, depth: int = 0):
    """Replaces every deferred tensor in dicts / lists / tuples by its numpy array."""
    if depth > 100:
      raise self.refuse("saved object is nested too deeply")
    if isinstance(obj, _Deferred):
      return self.make_array(storages[obj.key], obj.offset, obj.size, obj.stride, None)
    if isinstance(obj, dict):
      for k in list(obj):
        obj[k] = self.resolve(obj[k], storages, depth + 1)
      return obj
    if isinstance(obj, list):
      return [self.resolve(v, storages, depth + 1) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
      return tuple(self.resolve(v, storages, depth + 1) for v in obj)
    return obj


def _pickle_end(f, start: int) -> int:
  """File offset just past the pickle at `start` (opcodes are parsed, never run)."""
  f.seek(start)
  for opcode, _, pos in pickletools.genops(f):  # pos: absolute, genops uses f.tell()
    if opcode.name == "STOP":
      return pos + 1
  raise EOFError(f"pickle at offset {start} has no STOP opcode")


def _read(f, start: int, end: int) -> bytes:
  f.seek(start)
  data = f.read(end - start)
  if len(data) != end - start:
    raise EOFError(f"file ends at {start + len(data)}, expected {end} bytes")
  return data


def _load_plain(f, start: int, end: int, path: str):
  return _NoGlobals(io.BytesIO(_read(f, start, end)), path).load()


def load_legacy(path: str) -> typing.Any:
  """Loads a legacy-format torch.save file like `torch_pth.load_pth` loads a zip one.

  Raises:
    UnsafePickleError / CheckpointError: one line naming `path`.
  """
  try:
    with open(path, "rb") as f:
      size = os.fstat(f.fileno()).st_size
      pos, header = 0, []
      for _ in range(3):  # magic number, protocol version, sys_info
        end = _pickle_end(f, pos)
        header.append(_load_plain(f, pos, end, path))
        pos = end
      magic, protocol, sys_info = header
      if magic != MAGIC_NUMBER or protocol != PROTOCOL:
        raise CheckpointError(path, f"not a legacy torch file (magic {magic!r:.40}, "
                                    f"protocol {protocol!r:.40})")
      if not isinstance(sys_info, dict) or not sys_info.get("little_endian", True):
        raise CheckpointError(path, "big-endian legacy torch files are not supported")
      end = _pickle_end(f, pos)
      unpickler = _LegacyUnpickler(_read(f, pos, end), path)
      obj = unpickler.load()
      pos, end = end, _pickle_end(f, end)
      keys = _load_plain(f, pos, end, path)
      pos = end
      if not isinstance(keys, list) or set(keys) != set(unpickler.storages):
        raise CheckpointError(path, "storage key list does not match the tensors")
      storages = {}
      for key in keys:
        ref = unpickler.storages[key]
        (numel,) = struct.unpack("<q", _read(f, pos, pos + 8))
        nbytes = ref.numel * ref.dtype.itemsize
        if numel != ref.numel or pos + 8 + nbytes > size:
          raise CheckpointError(
              path, f"storage {key!r} is truncated or has {numel} elements, expected {ref.numel}")
        raw = _read(f, pos + 8, pos + 8 + nbytes)
        storages[key] = Storage(key, ref.dtype, ref.numel, raw)
        pos += 8 + nbytes
      return unpickler.resolve(obj, storages)
  except CheckpointError:
    raise
  except RecursionError:
    raise CheckpointError(path, "pickle is nested too deeply") from None
  except Exception as e:  # pylint: disable=broad-except
    # Untrusted input: whatever the parser trips over is a corrupt file, not a bug here.
    raise CheckpointError(path, f"corrupt legacy torch file "
                                f"({type(e).__name__}: {e})") from e

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Reads PyTorch ``.pth`` checkpoints into numpy arrays without importing torch.

This module reads the zip-based container written by ``torch.save`` since
torch 1.6 (the older stream is lp_jax.weights.torch_legacy's). Such a file is
a zip archive whose single top-level folder (the "archive prefix") holds:

* ``data.pkl``: a pickle of the saved object in which every tensor is a call to
  ``torch._utils._rebuild_tensor_v2`` (or ``_v3``) and every storage is a
  persistent id ``('storage', storage_type, key, location, numel)``;
* ``data/<key>``: the raw bytes of each storage;
* ``byteorder`` (optional): ``little`` or ``big``, the byte order of those bytes.

Pickles can run arbitrary code, so ``data.pkl`` is read by the allow-list
`lp_jax.weights.torch_tensors.TensorUnpickler`: the allowed torch names are
never imported but replaced by local stand-ins that build numpy arrays, and
every other global is refused before it can be called.

Example:

  state = load_pth('pretrained_weights/appearance_feature_extractor.pth')
  weight = state['conv.weight']  # a numpy.ndarray
"""

import os
import struct
import typing
import zipfile
import zlib

from lp_jax.weights.errors import CheckpointError, UnsafePickleError, describe
from lp_jax.weights.torch_tensors import Storage, StorageType, TensorUnpickler

__all__ = ['CheckpointError', 'UnsafePickleError', 'load_pth']

# The first bytes of a zip local file header, and of an empty zip's end record.
_ZIP_MAGICS = (b'PK\x03\x04', b'PK\x05\x06')

# A legacy (pre-1.6) torch file opens with a protocol-2 pickle of a 10-byte long "magic number".
LEGACY_MAGIC = b'\x80\x02\x8a\x0a'


class _ZipUnpickler(TensorUnpickler):
  """`TensorUnpickler` whose storages are the ``data/<key>`` records of the zip archive."""

  def __init__(self, data: bytes, path: str, archive: zipfile.ZipFile, prefix: str,
               big_endian: bool):
    super().__init__(data, path, big_endian)
    self._archive = archive
    self._prefix = prefix
    # Views of one tensor share a storage; read its bytes from the zip only once.
    self._raw_by_key: dict[str, bytes] = {}

  def persistent_load(self, pid: typing.Any) -> Storage:
    """Loads ``('storage', storage_type, key, location, numel)`` from ``data/<key>``."""
    if not isinstance(pid, tuple) or not pid or pid[0] != 'storage':
      raise self.refuse(f'unsupported persistent id {pid!r:.80}')
    if len(pid) != 5:
      raise self.refuse(f'malformed storage persistent id {pid!r:.80}')
    _, storage_type, key, _, numel = pid
    if not isinstance(storage_type, StorageType):
      raise self.refuse(f'unknown storage type {storage_type!r:.80}')
    if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
      raise self.refuse(f'malformed storage persistent id {pid!r:.80}')
    raw = self._raw_by_key.get(key)
    if raw is None:
      raw = self._read_record(key)
      self._raw_by_key[key] = raw
    needed = numel * storage_type.dtype.itemsize
    if len(raw) < needed:
      raise self.refuse(f"storage 'data/{key}' is truncated: {len(raw)} bytes, expected "
                        f'{needed} ({numel} x {storage_type.dtype.name})')
    return Storage(key, storage_type.dtype, numel, raw)

  def _read_record(self, key: str) -> bytes:
    name = f'{self._prefix}/data/{key}'
    try:
      return self._archive.read(name)
    except KeyError:
      raise self.refuse(f"storage record '{name}' is missing from the archive") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error) as e:
      raise self.refuse(f"corrupt storage record '{name}' ({describe(e)})") from e


def _find_prefix(path: str, names: list[str]) -> str:
  """Returns the archive prefix: the top folder that holds ``data.pkl``."""
  prefixes = sorted({n[:-len('/data.pkl')] for n in names
                     if n.endswith('/data.pkl') and n.count('/') == 1})
  if not prefixes:
    raise CheckpointError(path, 'missing <archive>/data.pkl in the zip; not a torch checkpoint')
  if len(prefixes) > 1:
    raise CheckpointError(path, f'zip archive has several data.pkl folders {prefixes!r:.120}')
  return prefixes[0]


def _read_big_endian(path: str, archive: zipfile.ZipFile, prefix: str) -> bool:
  """Returns whether the storages are big-endian, from ``<prefix>/byteorder``."""
  try:
    order = archive.read(f'{prefix}/byteorder')
  except KeyError:
    # Files from before torch recorded the byte order were all written on little-endian hosts.
    return False
  order = order.strip()
  if order == b'little':
    return False
  if order == b'big':
    return True
  raise CheckpointError(path, f'unknown byteorder record {order[:40]!r}')


def _check_is_zip(path: str) -> None:
  """Raises a CheckpointError unless ``path`` is a readable file that starts like a zip."""
  try:
    with open(path, 'rb') as f:
      head = f.read(4)
  except FileNotFoundError:
    raise CheckpointError(path, 'no such file') from None
  except IsADirectoryError:
    raise CheckpointError(path, 'is a directory, not a checkpoint file') from None
  except OSError as e:
    raise CheckpointError(path, f'cannot read file ({describe(e)})') from None
  if head in _ZIP_MAGICS:
    return
  if head == LEGACY_MAGIC:
    raise CheckpointError(path, 'legacy (non-zip) torch serialization is not supported; re-save '
                          'it with torch.save from torch >= 1.6')
  raise CheckpointError(path, 'not a zip archive (legacy non-zip torch serialization is not '
                        'supported)')


def load_pth(path: typing.Union[str, os.PathLike]) -> typing.Any:
  """Loads a zip-format ``torch.save`` checkpoint with tensors turned into numpy arrays.

  Args:
    path: The ``.pth`` file.

  Returns:
    The saved object. Tensors and parameters become C-contiguous numpy arrays of the matching
    dtype (bfloat16 and float8 via ml_dtypes) in native byte order that own their memory; dicts,
    OrderedDicts, lists, tuples and plain Python scalars and strings are kept as they are.

  Raises:
    UnsafePickleError: The pickle names a global outside the allow-list (it is not called).
    CheckpointError: For any other problem: missing file, not a zip (e.g. the legacy format),
      truncated or corrupt archive or pickle, missing records, unsupported storage types.
  """
  path = os.fspath(path)
  _check_is_zip(path)
  try:
    with zipfile.ZipFile(path) as archive:
      prefix = _find_prefix(path, archive.namelist())
      big_endian = _read_big_endian(path, archive, prefix)
      data = archive.read(f'{prefix}/data.pkl')
      unpickler = _ZipUnpickler(data, path, archive, prefix, big_endian)
      try:
        return unpickler.load()
      except CheckpointError:
        raise
      except RecursionError:
        raise CheckpointError(path, 'data.pkl is nested too deeply') from None
      except Exception as e:  # pylint: disable=broad-except
        # The pickle is untrusted input, so whatever it makes the unpickler trip over (EOF, bad
        # opcodes, calling a non-callable stand-in) is a corrupt checkpoint, not a bug here.
        raise CheckpointError(path, f'corrupt data.pkl ({describe(e)})') from e
  except CheckpointError:
    raise
  except (zipfile.BadZipFile, zlib.error, EOFError, struct.error, NotImplementedError) as e:
    raise CheckpointError(path, f'truncated or corrupt zip archive ({describe(e)})') from e
  except OSError as e:
    raise CheckpointError(path, f'cannot read file ({describe(e)})') from e

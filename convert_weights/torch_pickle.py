# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Reads PyTorch ``.pth`` checkpoints into numpy arrays without importing torch.

Only the zip-based container written by ``torch.save`` since torch 1.6 is
understood. Such a file is a zip archive whose single top-level folder (the
"archive prefix") holds:

* ``data.pkl``: a pickle of the saved object in which every tensor is a call to
  ``torch._utils._rebuild_tensor_v2`` (or ``_v3``) and every storage is a
  persistent id ``('storage', storage_type, key, location, numel)``;
* ``data/<key>``: the raw bytes of each storage;
* ``byteorder`` (optional): ``little`` or ``big``, the byte order of those bytes.

Pickles can run arbitrary code, so the unpickler here resolves globals against a
short allow-list and refuses everything else before it can be called. The
allowed torch names are never imported; they are replaced by local stand-ins
that build numpy arrays.

Example:

  state = load_pth('pretrained_weights/appearance_feature_extractor.pth')
  weight = state['conv.weight']  # a numpy.ndarray
"""

import collections
import io
import os
import pickle
import struct
import typing
import zipfile
import zlib

import ml_dtypes
import numpy as np

__all__ = ['CheckpointError', 'UnsafePickleError', 'load_pth']

# Storage classes named in persistent ids, mapped to the dtype of their elements.
# UntypedStorage counts bytes; the tensor dtype then comes from _rebuild_tensor_v3.
_STORAGE_DTYPES = {
    'FloatStorage': np.dtype(np.float32),
    'DoubleStorage': np.dtype(np.float64),
    'HalfStorage': np.dtype(np.float16),
    'BFloat16Storage': np.dtype(ml_dtypes.bfloat16),
    'LongStorage': np.dtype(np.int64),
    'IntStorage': np.dtype(np.int32),
    'ShortStorage': np.dtype(np.int16),
    'CharStorage': np.dtype(np.int8),
    'ByteStorage': np.dtype(np.uint8),
    'BoolStorage': np.dtype(np.bool_),
    'ComplexFloatStorage': np.dtype(np.complex64),
    'ComplexDoubleStorage': np.dtype(np.complex128),
    'UntypedStorage': np.dtype(np.uint8),
}

# torch dtype objects (``torch.float32`` ...) that _rebuild_tensor_v3 passes explicitly. Newer
# torch versions save the dtypes without a legacy storage class (uint16, float8) this way.
_TORCH_DTYPES = {
    'float32': np.dtype(np.float32),
    'float64': np.dtype(np.float64),
    'float16': np.dtype(np.float16),
    'bfloat16': np.dtype(ml_dtypes.bfloat16),
    'int64': np.dtype(np.int64),
    'int32': np.dtype(np.int32),
    'int16': np.dtype(np.int16),
    'int8': np.dtype(np.int8),
    'uint8': np.dtype(np.uint8),
    'uint16': np.dtype(np.uint16),
    'uint32': np.dtype(np.uint32),
    'uint64': np.dtype(np.uint64),
    'bool': np.dtype(np.bool_),
    'complex64': np.dtype(np.complex64),
    'complex128': np.dtype(np.complex128),
    'float8_e4m3fn': np.dtype(ml_dtypes.float8_e4m3fn),
    'float8_e5m2': np.dtype(ml_dtypes.float8_e5m2),
    'float8_e4m3fnuz': np.dtype(ml_dtypes.float8_e4m3fnuz),
    'float8_e5m2fnuz': np.dtype(ml_dtypes.float8_e5m2fnuz),
}

# Modules under which torch has published the storage classes over its versions.
_STORAGE_MODULES = ('torch', 'torch.storage')

# The first bytes of a zip local file header, and of an empty zip's end record.
_ZIP_MAGICS = (b'PK\x03\x04', b'PK\x05\x06')

# A legacy (pre-1.6) torch file opens with a protocol-2 pickle of a 10-byte long "magic number".
_LEGACY_MAGIC = b'\x80\x02\x8a\x0a'

_REFUSAL_HINT = '(only tensors, storages and dicts are allowed)'


class CheckpointError(ValueError):
  """A checkpoint could not be read; the message is one line naming the file."""

  def __init__(self, path: typing.Any, what: str):
    # Messages end up in logs and CLI output where a stray newline (from a path or a wrapped
    # exception) would split one failure into several confusing lines.
    text = f'{os.fspath(path) if isinstance(path, os.PathLike) else path}: {what}'
    super().__init__(text.replace('\r', '\\r').replace('\n', '\\n'))


class UnsafePickleError(CheckpointError):
  """The pickle asked for a global outside the allow-list; nothing was called."""


class _StorageType(typing.NamedTuple):
  """Stand-in for a ``torch.*Storage`` class, as seen inside a persistent id.

  A NamedTuple has no ``__dict__`` and read-only fields, so a hostile pickle cannot
  retarget its dtype with a BUILD opcode, and it is not callable.
  """
  name: str
  dtype: np.dtype


class _TorchDtype(typing.NamedTuple):
  """Stand-in for a ``torch.<dtype>`` object passed to ``_rebuild_tensor_v3``."""
  name: str
  dtype: np.dtype


class _Storage(typing.NamedTuple):
  """A storage loaded from ``data/<key>``: its raw bytes and the element dtype."""
  key: str
  dtype: np.dtype
  numel: int
  raw: bytes


def _describe(exc: BaseException) -> str:
  """Returns ``Type: message`` for wrapping a low-level exception into one line."""
  message = str(exc)
  return f'{type(exc).__name__}: {message}' if message else type(exc).__name__


def _swap_to_native(array: np.ndarray) -> None:
  """Reverses the byte order of each scalar of a contiguous, owned ``array`` in place."""
  # Complex numbers are two floats, each with its own byte order, so they swap per half.
  unit = array.dtype.itemsize // 2 if array.dtype.kind == 'c' else array.dtype.itemsize
  if unit > 1 and array.size:
    # Viewing as unsigned ints of the unit size works for every dtype, including the ml_dtypes
    # floats whose own byteswap support is not guaranteed.
    array.reshape(-1).view(np.dtype(f'u{unit}')).byteswap(inplace=True)


class _Unpickler(pickle.Unpickler):
  """Unpickler for ``data.pkl`` that only knows tensors, storages and dicts."""

  def __init__(self, data: bytes, path: str, archive: zipfile.ZipFile, prefix: str,
               big_endian: bool):
    super().__init__(io.BytesIO(data), encoding='utf-8')
    self._path = path
    self._archive = archive
    self._prefix = prefix
    self._big_endian = big_endian
    # Views of one tensor share a storage; read its bytes from the zip only once.
    self._raw_by_key: dict[str, bytes] = {}
    # Bound methods rather than module functions: a method object refuses setattr, so a BUILD
    # opcode cannot patch e.g. __defaults__ of a shared function for later loads.
    self._allowed = {
        ('collections', 'OrderedDict'): collections.OrderedDict,
        ('torch._utils', '_rebuild_tensor_v2'): self._rebuild_tensor_v2,
        ('torch._utils', '_rebuild_tensor_v3'): self._rebuild_tensor_v3,
        ('torch._utils', '_rebuild_tensor'): self._rebuild_tensor,
        ('torch._utils', '_rebuild_parameter'): self._rebuild_parameter,
        ('torch', 'device'): self._device,
    }

  def _fail(self, what: str) -> CheckpointError:
    return CheckpointError(self._path, what)

  def find_class(self, module: str, name: str) -> typing.Any:
    """Resolves a pickle global against the allow-list; never imports anything."""
    found = self._allowed.get((module, name))
    if found is not None:
      return found
    if module in _STORAGE_MODULES and name.endswith('Storage'):
      dtype = _STORAGE_DTYPES.get(name)
      if dtype is None:
        # A storage class is harmless to name; it is just one this reader cannot decode
        # (quantized types and the like), which is a format limit rather than an attack.
        raise self._fail(f"unsupported storage type '{module}.{name}'")
      return _StorageType(name, dtype)
    if module == 'torch' and name in _TORCH_DTYPES:
      return _TorchDtype(name, _TORCH_DTYPES[name])
    raise UnsafePickleError(self._path,
                            f"refused to unpickle global '{module}.{name}' {_REFUSAL_HINT}")

  def persistent_load(self, pid: typing.Any) -> _Storage:
    """Loads ``('storage', storage_type, key, location, numel)`` from ``data/<key>``."""
    if not isinstance(pid, tuple) or not pid or pid[0] != 'storage':
      raise self._fail(f'unsupported persistent id {pid!r:.80}')
    if len(pid) != 5:
      raise self._fail(f'malformed storage persistent id {pid!r:.80}')
    _, storage_type, key, _, numel = pid
    if not isinstance(storage_type, _StorageType):
      raise self._fail(f'unknown storage type {storage_type!r:.80}')
    if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
      raise self._fail(f'malformed storage persistent id {pid!r:.80}')
    raw = self._raw_by_key.get(key)
    if raw is None:
      raw = self._read_record(key)
      self._raw_by_key[key] = raw
    needed = numel * storage_type.dtype.itemsize
    if len(raw) < needed:
      raise self._fail(f"storage 'data/{key}' is truncated: {len(raw)} bytes, expected {needed} "
                       f'({numel} x {storage_type.dtype.name})')
    return _Storage(key, storage_type.dtype, numel, raw)

  def _read_record(self, key: str) -> bytes:
    name = f'{self._prefix}/data/{key}'
    try:
      return self._archive.read(name)
    except KeyError:
      raise self._fail(f"storage record '{name}' is missing from the archive") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error) as e:
      raise self._fail(f"corrupt storage record '{name}' ({_describe(e)})") from e

  def _device(self, *args: typing.Any) -> str:
    # Only ever appears as the location inside a persistent id, which is ignored: every array
    # lands in host memory.
    return ':'.join(str(a) for a in args)

  def _rebuild_tensor_v2(self, storage: typing.Any, storage_offset: typing.Any,
                         size: typing.Any, stride: typing.Any, *unused: typing.Any) -> np.ndarray:
    del unused  # requires_grad, backward_hooks and metadata mean nothing to numpy.
    return self._make_array(storage, storage_offset, size, stride, None)

  def _rebuild_tensor_v3(self, storage: typing.Any, storage_offset: typing.Any,
                         size: typing.Any, stride: typing.Any, requires_grad: typing.Any,
                         backward_hooks: typing.Any, dtype: typing.Any,
                         *unused: typing.Any) -> np.ndarray:
    del requires_grad, backward_hooks, unused
    if not isinstance(dtype, _TorchDtype):
      raise self._fail(f'unsupported tensor dtype {dtype!r:.80}')
    return self._make_array(storage, storage_offset, size, stride, dtype.dtype)

  def _rebuild_tensor(self, storage: typing.Any, storage_offset: typing.Any, size: typing.Any,
                      stride: typing.Any) -> np.ndarray:
    return self._make_array(storage, storage_offset, size, stride, None)

  def _rebuild_parameter(self, data: typing.Any, *unused: typing.Any) -> np.ndarray:
    del unused  # requires_grad and backward_hooks.
    if not isinstance(data, np.ndarray):
      raise self._fail(f'parameter data is not a tensor but {type(data).__name__}')
    return data

  def _make_array(self, storage: typing.Any, offset: typing.Any, size: typing.Any,
                  stride: typing.Any, dtype: typing.Optional[np.dtype]) -> np.ndarray:
    """Copies the strided view ``(offset, size, stride)`` of ``storage`` into a new array."""
    if not isinstance(storage, _Storage):
      raise self._fail(f'tensor storage is not a storage but {type(storage).__name__}')
    if dtype is None:
      dtype = storage.dtype
      numel = storage.numel
    else:
      # An explicit dtype reinterprets the storage bytes (an UntypedStorage counts bytes).
      numel = storage.numel * storage.dtype.itemsize // dtype.itemsize
    if not isinstance(offset, int) or offset < 0:
      raise self._fail(f'invalid tensor storage offset {offset!r:.80}')
    if (not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)) or
        len(size) != len(stride) or
        not all(isinstance(v, int) and v >= 0 for v in (*size, *stride))):
      raise self._fail(f'invalid tensor size {size!r:.80} / stride {stride!r:.80}')
    shape = tuple(size)
    if 0 in shape:
      return np.empty(shape, dtype)
    # Bounds-check before as_strided: it trusts its arguments and would otherwise read memory
    # outside the storage bytes for a hostile or corrupt size/stride.
    last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
    if last >= numel:
      raise self._fail(f"tensor of size {shape} stride {tuple(stride)} offset {offset} overruns "
                       f"storage 'data/{storage.key}' of {numel} elements")
    flat = np.frombuffer(storage.raw, dtype=dtype, count=numel)
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=shape, strides=tuple(s * dtype.itemsize for s in stride),
        writeable=False)
    # A fresh C-ordered copy: it owns its memory (the zip bytes can be freed) and does not alias
    # other tensors that shared the storage.
    array = np.array(view, dtype=dtype, order='C', copy=True)
    if self._big_endian:
      _swap_to_native(array)
    return array


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
    raise CheckpointError(path, f'cannot read file ({_describe(e)})') from None
  if head in _ZIP_MAGICS:
    return
  if head == _LEGACY_MAGIC:
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
      unpickler = _Unpickler(data, path, archive, prefix, big_endian)
      try:
        return unpickler.load()
      except CheckpointError:
        raise
      except RecursionError:
        raise CheckpointError(path, 'data.pkl is nested too deeply') from None
      except Exception as e:  # pylint: disable=broad-except
        # The pickle is untrusted input, so whatever it makes the unpickler trip over (EOF, bad
        # opcodes, calling a non-callable stand-in) is a corrupt checkpoint, not a bug here.
        raise CheckpointError(path, f'corrupt data.pkl ({_describe(e)})') from e
  except CheckpointError:
    raise
  except (zipfile.BadZipFile, zlib.error, EOFError, struct.error, NotImplementedError) as e:
    raise CheckpointError(path, f'truncated or corrupt zip archive ({_describe(e)})') from e
  except OSError as e:
    raise CheckpointError(path, f'cannot read file ({_describe(e)})') from e

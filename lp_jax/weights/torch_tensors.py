# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Tensors inside a ``torch.save`` pickle, rebuilt as numpy arrays without importing torch.

Both torch containers (the zip written since torch 1.6, lp_jax.weights.torch_pth, and the legacy
stream, lp_jax.weights.torch_legacy) pickle the saved object the same way: every tensor is a call
to ``torch._utils._rebuild_tensor_v2`` (or ``_v3`` / ``_rebuild_tensor``) on a storage that the
container supplies through a persistent id, and storage classes and dtypes are globals of
``torch``. `TensorUnpickler` maps exactly those globals to local stand-ins (torch is never
imported) and refuses every other one before it can be called; each container subclass supplies
its own ``persistent_load``.
"""

import collections
import io
import typing

import ml_dtypes
import numpy as np

from lp_jax.io.safe_pickle import AllowListUnpickler
from lp_jax.weights.errors import CheckpointError, UnsafePickleError

# Storage classes named in persistent ids, mapped to the dtype of their elements.
# UntypedStorage counts bytes; the tensor dtype then comes from _rebuild_tensor_v3.
STORAGE_DTYPES = {
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
TORCH_DTYPES = {
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
STORAGE_MODULES = ('torch', 'torch.storage')

REFUSAL_HINT = '(only tensors, storages and dicts are allowed)'


class StorageType(typing.NamedTuple):
  """Stand-in for a ``torch.*Storage`` class, as seen inside a persistent id.

  A NamedTuple has no ``__dict__`` and read-only fields, so a hostile pickle cannot
  retarget its dtype with a BUILD opcode, and it is not callable.
  """
  name: str
  dtype: np.dtype


class TorchDtype(typing.NamedTuple):
  """Stand-in for a ``torch.<dtype>`` object passed to ``_rebuild_tensor_v3``."""
  name: str
  dtype: np.dtype


class Storage(typing.NamedTuple):
  """A storage's raw bytes (from the container) and its element dtype."""
  key: str
  dtype: np.dtype
  numel: int
  raw: bytes


def _swap_to_native(array: np.ndarray) -> None:
  """Reverses the byte order of each scalar of a contiguous, owned ``array`` in place."""
  # Complex numbers are two floats, each with its own byte order, so they swap per half.
  unit = array.dtype.itemsize // 2 if array.dtype.kind == 'c' else array.dtype.itemsize
  if unit > 1 and array.size:
    # Viewing as unsigned ints of the unit size works for every dtype, including the ml_dtypes
    # floats whose own byteswap support is not guaranteed.
    array.reshape(-1).view(np.dtype(f'u{unit}')).byteswap(inplace=True)


class TensorUnpickler(AllowListUnpickler):
  """Unpickler for a torch pickle that only knows tensors, storages and dicts.

  Subclasses implement ``persistent_load`` for their container's storage ids.
  """

  def __init__(self, data: bytes, path: str, big_endian: bool):
    super().__init__(io.BytesIO(data), encoding='utf-8')
    self._path = path
    self._big_endian = big_endian
    # Bound methods rather than module functions: a method object refuses setattr, so a BUILD
    # opcode cannot patch e.g. __defaults__ of a shared function for later loads.
    self.allowed = {
        ('collections', 'OrderedDict'): collections.OrderedDict,
        ('torch._utils', '_rebuild_tensor_v2'): self._rebuild_tensor_v2,
        ('torch._utils', '_rebuild_tensor_v3'): self._rebuild_tensor_v3,
        ('torch._utils', '_rebuild_tensor'): self._rebuild_tensor,
        ('torch._utils', '_rebuild_parameter'): self._rebuild_parameter,
        ('torch', 'device'): self._device,
    }

  def refuse(self, problem: str) -> CheckpointError:
    return CheckpointError(self._path, problem)

  def refuse_global(self, qualified_name: str) -> UnsafePickleError:
    return UnsafePickleError(self._path,
                             f"refused to unpickle global '{qualified_name}' {REFUSAL_HINT}")

  def extra_global(self, module: str, name: str) -> typing.Any:
    """Storage classes and dtype objects of torch, as read-only stand-ins."""
    if module in STORAGE_MODULES and name.endswith('Storage'):
      dtype = STORAGE_DTYPES.get(name)
      if dtype is None:
        # A storage class is harmless to name; it is just one this reader cannot decode
        # (quantized types and the like), which is a format limit rather than an attack.
        raise self.refuse(f"unsupported storage type '{module}.{name}'")
      return StorageType(name, dtype)
    if module == 'torch' and name in TORCH_DTYPES:
      return TorchDtype(name, TORCH_DTYPES[name])
    return None

  def _device(self, *args: typing.Any) -> str:
    # Only ever appears as the location inside a persistent id, which is ignored: every array
    # lands in host memory.
    return ':'.join(str(a) for a in args)

  def _rebuild_tensor_v2(self, storage: typing.Any, storage_offset: typing.Any,
                         size: typing.Any, stride: typing.Any, *unused: typing.Any) -> typing.Any:
    del unused  # requires_grad, backward_hooks and metadata mean nothing to numpy.
    return self.make_array(storage, storage_offset, size, stride, None)

  def _rebuild_tensor_v3(self, storage: typing.Any, storage_offset: typing.Any,
                         size: typing.Any, stride: typing.Any, requires_grad: typing.Any,
                         backward_hooks: typing.Any, dtype: typing.Any,
                         *unused: typing.Any) -> typing.Any:
    del requires_grad, backward_hooks, unused
    if not isinstance(dtype, TorchDtype):
      raise self.refuse(f'unsupported tensor dtype {dtype!r:.80}')
    return self.make_array(storage, storage_offset, size, stride, dtype.dtype)

  def _rebuild_tensor(self, storage: typing.Any, storage_offset: typing.Any, size: typing.Any,
                      stride: typing.Any) -> typing.Any:
    return self.make_array(storage, storage_offset, size, stride, None)

  def _rebuild_parameter(self, data: typing.Any, *unused: typing.Any) -> typing.Any:
    del unused  # requires_grad and backward_hooks.
    if not isinstance(data, np.ndarray):
      raise self.refuse(f'parameter data is not a tensor but {type(data).__name__}')
    return data

  def make_array(self, storage: typing.Any, offset: typing.Any, size: typing.Any,
                 stride: typing.Any, dtype: typing.Optional[np.dtype]) -> np.ndarray:
    """Copies the strided view ``(offset, size, stride)`` of ``storage`` into a new array."""
    if not isinstance(storage, Storage):
      raise self.refuse(f'tensor storage is not a storage but {type(storage).__name__}')
    if dtype is None:
      dtype = storage.dtype
      numel = storage.numel
    else:
      # An explicit dtype reinterprets the storage bytes (an UntypedStorage counts bytes).
      numel = storage.numel * storage.dtype.itemsize // dtype.itemsize
    if not isinstance(offset, int) or offset < 0:
      raise self.refuse(f'invalid tensor storage offset {offset!r:.80}')
    if (not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)) or
        len(size) != len(stride) or
        not all(isinstance(v, int) and v >= 0 for v in (*size, *stride))):
      raise self.refuse(f'invalid tensor size {size!r:.80} / stride {stride!r:.80}')
    shape = tuple(size)
    if 0 in shape:
      return np.empty(shape, dtype)
    # Bounds-check before as_strided: it trusts its arguments and would otherwise read memory
    # outside the storage bytes for a hostile or corrupt size/stride.
    last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
    if last >= numel:
      raise self.refuse(f"tensor of size {shape} stride {tuple(stride)} offset {offset} overruns "
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

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Pickles of plain numpy arrays and containers, read without trusting them.

The official LivePortrait code reads and writes motion templates and its lip constant with plain
`pickle`, which runs whatever a file asks it to. `safe_load_pickle` rebuilds plain numeric numpy
arrays and plain containers only, on the shared allow-list unpickler, and refuses every other
global before it can be called.
"""

import importlib
import io
import pickle
import pickletools

import numpy as np

from lp_jax.io.safe_pickle import AllowListUnpickler
from lp_jax.motion_template.errors import TemplateError, describe, file_label, shorten

# Bool, signed, unsigned and float only: object ('O') arrays carry arbitrary Python objects, and
# void ('V') dtypes can gain object fields when their pickled state is restored.
NUMERIC_KINDS = "biuf"
# Opcodes that reach objects without naming a global, so find_class alone cannot vet them:
# EXT* read copyreg's extension cache, PERSID asks the caller, NEXT_BUFFER takes out-of-band data.
_REFUSED_OPCODES = frozenset({"EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID", "NEXT_BUFFER"})
_ALLOWED_HINT = "(only numpy arrays and plain containers are allowed)"


def _import_first(*names):
  # numpy 2 moved `numpy.core` to `numpy._core` (the old name still imports, with a warning).
  for name in names:
    try:
      return importlib.import_module(name)
    except ImportError:
      continue
  raise ImportError(f"none of {names} can be imported")


_multiarray = _import_first("numpy._core.multiarray", "numpy.core.multiarray")


class _NdarrayToken:
  """Stands in for the `numpy.ndarray` global.

  numpy names the class only as `_reconstruct`'s first argument; handing out the real class would
  let a pickle call `ndarray(huge_shape)` and allocate memory the file does not hold.
  """
  __slots__ = ()


_NDARRAY = _NdarrayToken()


def plain_numeric(dtype) -> bool:
  """Whether `dtype` is a bool / int / float dtype without fields, subarrays or objects."""
  return (isinstance(dtype, np.dtype) and dtype.kind in NUMERIC_KINDS and dtype.fields is None
          and dtype.subdtype is None and not dtype.hasobject)


class _NumpyUnpickler(AllowListUnpickler):
  """Rebuilds numpy arrays and scalars of plain numeric dtypes, and plain containers."""

  def __init__(self, file, label: str):
    super().__init__(file)
    self._label = label
    # The globals numpy's own pickles name; each maps to a checking wrapper, never the real
    # callable, so a pickle cannot call them with arguments numpy would never write.
    self.allowed = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): self._dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
      self.allowed[(module, "_reconstruct")] = self._reconstruct
      self.allowed[(module, "scalar")] = self._scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
      self.allowed[(module, "_frombuffer")] = self._frombuffer  # protocol 5 arrays
    # Protocols 0-2 have no bytes opcode: pickle spells bytes as these two calls.
    self.allowed[("_codecs", "encode")] = self._latin1_bytes
    self.allowed[("builtins", "bytes")] = self._empty_bytes

  def refuse(self, problem: str) -> TemplateError:
    return TemplateError(self._label, problem)

  def refuse_global(self, qualified_name: str) -> TemplateError:
    return self.refuse(f"refused to unpickle global '{shorten(qualified_name)}' {_ALLOWED_HINT}")

  def persistent_load(self, pid):
    raise self.refuse(f"refused a persistent id {_ALLOWED_HINT}")

  def _refuse(self, problem: str):
    raise self.refuse(problem)

  def _dtype(self, spec, align=False, copy=True, *rest):
    del copy  # always copy: restoring state into numpy's shared builtin dtype would alter it
    if rest or not isinstance(spec, str):
      self._refuse("refused a numpy dtype built from unexpected arguments")
    try:
      dtype = np.dtype(spec, bool(align), True)
    except (TypeError, ValueError) as e:
      self._refuse(f"holds an invalid numpy dtype {shorten(repr(spec))} ({describe(e)})")
    if not plain_numeric(dtype):
      self._refuse(f"refused numpy dtype {shorten(repr(spec))} (only plain numeric arrays are "
                   "allowed; object arrays can carry arbitrary objects)")
    return dtype

  def _latin1_bytes(self, text, encoding, *rest):
    if rest or not isinstance(text, str) or encoding != "latin1":
      self._refuse("refused _codecs.encode with unexpected arguments")
    return text.encode("latin1")

  def _empty_bytes(self, *args):
    if args:
      self._refuse("refused builtins.bytes with arguments")
    return b""

  def _reconstruct(self, subtype, shape, typecode, *rest):
    # numpy always writes `_reconstruct(ndarray, (0,), b'b')`, then restores the real shape,
    # dtype and bytes with BUILD; anything else is not a numpy pickle.
    if subtype is not _NDARRAY or rest or shape != (0,) or typecode not in (b"b", "b"):
      self._refuse("refused numpy _reconstruct with unexpected arguments")
    return _multiarray._reconstruct(np.ndarray, (0,), b"b")

  def _scalar(self, dtype, *args):
    if not plain_numeric(dtype):
      self._refuse("refused a numpy scalar of a non-numeric dtype")
    if len(args) != 1 or not isinstance(args[0], bytes) or len(args[0]) != dtype.itemsize:
      self._refuse("refused a numpy scalar with unexpected arguments")
    return _multiarray.scalar(dtype, args[0])

  def _frombuffer(self, buf, dtype, shape, order, *rest):
    if (rest or not plain_numeric(dtype) or order not in ("C", "F")
        or not isinstance(buf, (bytes, bytearray, memoryview, pickle.PickleBuffer))
        or not isinstance(shape, tuple)
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
      self._refuse("refused numpy _frombuffer with unexpected arguments")
    flat = np.frombuffer(buf, dtype=dtype)
    if flat.size != int(np.prod(shape, dtype=np.int64)):
      self._refuse(f"holds a numpy buffer of {flat.size} values for shape {shape}")
    return np.array(flat.reshape(shape, order=order), copy=True, order="K")


def _prescan(data: bytes, label: str):
  """Parses the opcode stream (runs nothing) to refuse opcodes find_class cannot vet."""
  try:
    for opcode, _, pos in pickletools.genops(data):
      if opcode.name in _REFUSED_OPCODES:
        raise TemplateError(label, f"refused pickle opcode {opcode.name} at byte {pos} "
                            f"{_ALLOWED_HINT}")
  except TemplateError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # genops stops at STOP, so a file cut short surfaces here, before anything is built.
    raise TemplateError(label, f"is truncated or not a pickle ({describe(e)})") from e


def _check_plain(obj, label: str):
  """Walks the result (iteratively: pickles can hold cycles) for types a template never holds."""
  stack, seen = [obj], set()
  while stack:
    item = stack.pop()
    kind = type(item)
    if kind in (str, int, float, bool, type(None)):
      continue
    if kind is np.ndarray or isinstance(item, np.generic):
      if not plain_numeric(item.dtype):
        raise TemplateError(label, f"refused a numpy value of dtype {item.dtype} (only plain "
                            "numeric arrays are allowed)")
      continue
    if kind not in (dict, list, tuple):
      raise TemplateError(label, f"holds a {kind.__name__}, which a motion template never holds")
    if id(item) in seen:
      continue
    seen.add(id(item))
    if kind is dict:
      stack.extend(item.keys())
      stack.extend(item.values())
    else:
      stack.extend(item)


def _read_bytes(path, label: str) -> bytes:
  try:
    with open(path, "rb") as f:
      return f.read()
  except FileNotFoundError:
    raise TemplateError(label, "no such file") from None
  except IsADirectoryError:
    raise TemplateError(label, "is a directory, not a template file") from None
  except OSError as e:
    raise TemplateError(label, f"cannot be read ({describe(e)})") from e


def _safe_loads(data: bytes, label: str):
  if not data:
    raise TemplateError(label, "is empty")
  _prescan(data, label)
  try:
    obj = _NumpyUnpickler(io.BytesIO(data), label).load()
  except TemplateError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise TemplateError(label, f"is corrupt or not a pickle ({describe(e)})") from e
  _check_plain(obj, label)
  return obj


def safe_load_pickle(path):
  """Unpickles a file that may be hostile.

  Only these are rebuilt: numpy arrays and scalars of bool, integer or float dtype (through the
  globals numpy's pickles name: `numpy.ndarray`, `numpy.dtype`, `numpy[._]core.multiarray.
  _reconstruct` / `scalar`, and `numpy[._]core.numeric._frombuffer` for protocol 5), plus dicts,
  lists, tuples, str, int, float, bool and None (and, for protocols 0-2, bytes through
  `_codecs.encode(text, 'latin1')` / `builtins.bytes()`). Any other global is refused before it
  is called, and each allowed one only with the arguments numpy or pickle would write.

  Args:
    path: the pickle file.

  Returns:
    The unpickled object.

  Raises:
    TemplateError: the file is missing, unreadable, truncated, corrupt or asks for anything else.
  """
  label = file_label(path)
  return _safe_loads(_read_bytes(path, label), label)

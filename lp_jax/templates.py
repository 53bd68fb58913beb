# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Motion templates: official LivePortrait `.pkl` files read without trusting them, and our own
pickle-free `.npz`.

A motion template is the per-frame driving motion (scale, rotation, expression, translation and,
from the current official code, canonical and transformed keypoints) plus the driving eye and lip
ratios (ARCHITECTURE.md section 15). The official code reads and writes them with plain `pickle`,
which runs whatever a file asks it to. Here an allow-list unpickler rebuilds plain numeric numpy
arrays and plain containers only, and refuses every other global before it can be called.

Both official key generations are read: legacy (`R_d`, `c_d_eyes_lst`, `c_d_lip_lst`; the shipped
d*.pkl) and current (`R`, `c_eyes_lst`, `c_lip_lst`, per-frame `kp` and `x_s`).

Our `.npz` layout, written by `save_template` and read with `allow_pickle=False` (T = frames):

  lp_jax_template  int64 ()            format version, 1
  n_frames         int64 ()            T
  output_fps       float64 ()          frame rate of the driving motion
  scale            float32 [T, 1]
  R                float32 [T, 3, 3]   rotation, applied as x @ R (the official transposed matrix)
  exp              float32 [T, 21, 3]  expression deltas
  t                float32 [T, 3]      translation, tz kept
  kp               float32 [T, 21, 3]  optional: canonical keypoints
  x_s              float32 [T, 21, 3]  optional: transformed keypoints (tz excluded)
  eye_ratios       float32 [T, 2]      optional: driving eye-close ratios (official c_eyes_lst)
  lip_ratios       float32 [T, 1]      optional: driving lip-close ratio (official c_lip_lst)

Every failure is a `TemplateError` whose message is one line: `<file>: <problem>`.
"""

import contextlib
import dataclasses
import importlib
import io
import json
import os
import pickle
import pickletools
import secrets

import numpy as np

NUM_KP = 21
NPZ_VERSION = 1
# The official pipeline's frame rate when a template has no `output_fps`.
DEFAULT_FPS = 25

# One frame's shape per field, without the leading batch axis of the official per-frame arrays.
_SHAPES = {
    "scale": (1,), "R": (3, 3), "exp": (NUM_KP, 3), "t": (3,),
    "kp": (NUM_KP, 3), "x_s": (NUM_KP, 3), "eye_ratios": (2,), "lip_ratios": (1,),
}
_MOTION_KEYS = ("scale", "R", "exp", "t")
_OPTIONAL_KEYS = ("kp", "x_s", "eye_ratios", "lip_ratios")
# (current, legacy) official names; the official loader takes the current one when both exist.
_EYE_KEYS = ("c_eyes_lst", "c_d_eyes_lst")
_LIP_KEYS = ("c_lip_lst", "c_d_lip_lst")
_NPZ_REQUIRED = ("lp_jax_template", "n_frames", "output_fps") + _MOTION_KEYS
# Bool, signed, unsigned and float only: object ('O') arrays carry arbitrary Python objects, and
# void ('V') dtypes can gain object fields when their pickled state is restored.
_NUMERIC_KINDS = "biuf"
# Opcodes that reach objects without naming a global, so find_class alone cannot vet them:
# EXT* read copyreg's extension cache, PERSID asks the caller, NEXT_BUFFER takes out-of-band data.
_REFUSED_OPCODES = frozenset({"EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID", "NEXT_BUFFER"})
_MAX_DETAIL = 160


def _import_first(*names):
  # numpy 2 moved `numpy.core` to `numpy._core` (the old name still imports, with a warning).
  for name in names:
    try:
      return importlib.import_module(name)
    except ImportError:
      continue
  raise ImportError(f"none of {names} can be imported")


_multiarray = _import_first("numpy._core.multiarray", "numpy.core.multiarray")


def _label(path) -> str:
  text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
  # A name with a newline or control character would break the one-line message.
  return text if text.isprintable() else repr(text)


def _short(text: str) -> str:
  text = " ".join(str(text).split())
  return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL - 3] + "..."


def _detail(exc: BaseException) -> str:
  text = _short(str(exc))
  return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class TemplateError(ValueError):
  """A template that is missing, unsafe, corrupt or not a motion template.

  Attributes:
    path: the file, as given.
    problem: what is wrong with it.
  """

  def __init__(self, path, problem: str):
    self.path = _label(path)
    self.problem = " ".join(str(problem).split())
    super().__init__(f"{self.path}: {self.problem}")


# ------------------------------------------------------------------------------------------------
# The allow-list unpickler.


class _NdarrayToken:
  """Stands in for the `numpy.ndarray` global.

  numpy names the class only as `_reconstruct`'s first argument; handing out the real class would
  let a pickle call `ndarray(huge_shape)` and allocate memory the file does not hold.
  """
  __slots__ = ()


_NDARRAY = _NdarrayToken()


def _plain_numeric(dtype) -> bool:
  return (isinstance(dtype, np.dtype) and dtype.kind in _NUMERIC_KINDS and dtype.fields is None
          and dtype.subdtype is None and not dtype.hasobject)


class _AllowListUnpickler(pickle.Unpickler):
  """Rebuilds numpy arrays and scalars of plain numeric dtypes, and plain containers."""

  def __init__(self, file, label: str):
    super().__init__(file)
    self._label = label
    # The globals numpy's own pickles name; each maps to a checking wrapper, never the real
    # callable, so a pickle cannot call them with arguments numpy would never write.
    self._allowed = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): self._dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
      self._allowed[(module, "_reconstruct")] = self._reconstruct
      self._allowed[(module, "scalar")] = self._scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
      self._allowed[(module, "_frombuffer")] = self._frombuffer  # protocol 5 arrays
    # Protocols 0-2 have no bytes opcode: pickle spells bytes as these two calls.
    self._allowed[("_codecs", "encode")] = self._latin1_bytes
    self._allowed[("builtins", "bytes")] = self._empty_bytes

  def _refuse(self, problem: str):
    raise TemplateError(self._label, problem)

  def find_class(self, module, name):
    target = None
    if isinstance(module, str) and isinstance(name, str):
      target = self._allowed.get((module, name))
    if target is None:
      self._refuse(f"refused to unpickle global '{_short(f'{module}.{name}')}' (only numpy "
                   "arrays and plain containers are allowed)")
    return target

  def persistent_load(self, pid):
    self._refuse("refused a persistent id (only numpy arrays and plain containers are allowed)")

  def _dtype(self, spec, align=False, copy=True, *rest):
    del copy  # always copy: restoring state into numpy's shared builtin dtype would alter it
    if rest or not isinstance(spec, str):
      self._refuse("refused a numpy dtype built from unexpected arguments")
    try:
      dtype = np.dtype(spec, bool(align), True)
    except (TypeError, ValueError) as e:
      self._refuse(f"holds an invalid numpy dtype {_short(repr(spec))} ({_detail(e)})")
    if not _plain_numeric(dtype):
      self._refuse(f"refused numpy dtype {_short(repr(spec))} (only plain numeric arrays are "
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
    if not _plain_numeric(dtype):
      self._refuse("refused a numpy scalar of a non-numeric dtype")
    if len(args) != 1 or not isinstance(args[0], bytes) or len(args[0]) != dtype.itemsize:
      self._refuse("refused a numpy scalar with unexpected arguments")
    return _multiarray.scalar(dtype, args[0])

  def _frombuffer(self, buf, dtype, shape, order, *rest):
    if (rest or not _plain_numeric(dtype) or order not in ("C", "F")
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
        raise TemplateError(label, f"refused pickle opcode {opcode.name} at byte {pos} (only "
                            "numpy arrays and plain containers are allowed)")
  except TemplateError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # genops stops at STOP, so a file cut short surfaces here, before anything is built.
    raise TemplateError(label, f"is truncated or not a pickle ({_detail(e)})") from e


def _check_plain(obj, label: str):
  """Walks the result (iteratively: pickles can hold cycles) for types a template never holds."""
  stack, seen = [obj], set()
  while stack:
    item = stack.pop()
    kind = type(item)
    if kind in (str, int, float, bool, type(None)):
      continue
    if kind is np.ndarray or isinstance(item, np.generic):
      if not _plain_numeric(item.dtype):
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
    raise TemplateError(label, f"cannot be read ({_detail(e)})") from e


def _safe_loads(data: bytes, label: str):
  if not data:
    raise TemplateError(label, "is empty")
  _prescan(data, label)
  try:
    obj = _AllowListUnpickler(io.BytesIO(data), label).load()
  except TemplateError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise TemplateError(label, f"is corrupt or not a pickle ({_detail(e)})") from e
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
  label = _label(path)
  return _safe_loads(_read_bytes(path, label), label)


# ------------------------------------------------------------------------------------------------
# The template.


@dataclasses.dataclass(kw_only=True, eq=False)
class MotionTemplate:
  """Per-frame driving motion, stacked over T frames (all arrays float32, C-contiguous).

  Attributes:
    output_fps: frame rate of the driving motion (int when whole).
    scale: [T, 1].
    R: [T, 3, 3], the official transposed rotation (keypoints rotate as x @ R).
    exp: [T, 21, 3] expression deltas.
    t: [T, 3] translation (tz kept; the pipeline zeroes it).
    kp: [T, 21, 3] canonical keypoints, or None (legacy templates do not store them).
    x_s: [T, 21, 3] transformed keypoints, or None.
    eye_ratios: [T, 2] driving eye-close ratios, or None (animal templates have none).
    lip_ratios: [T, 1] driving lip-close ratio, or None.
    source_format: where it came from: 'pkl' (current official keys), 'pkl-legacy' (R_d /
      c_d_* keys), 'npz' (ours) or 'memory'.

  `n_frames` (T) is read off the arrays rather than stored, so a copy made field by field with
  sliced arrays stays consistent; the loaders check a file's own n_frames against its frames.
  """
  output_fps: float
  scale: np.ndarray
  R: np.ndarray
  exp: np.ndarray
  t: np.ndarray
  kp: np.ndarray | None = None
  x_s: np.ndarray | None = None
  eye_ratios: np.ndarray | None = None
  lip_ratios: np.ndarray | None = None
  source_format: str = "memory"

  def __post_init__(self):
    _normalize(self, "MotionTemplate")

  @property
  def n_frames(self) -> int:
    return int(self.exp.shape[0])

  def motion(self) -> dict:
    """The four arrays the driving-keypoint stage reads, each [T, ...]."""
    return {key: getattr(self, key) for key in _MOTION_KEYS}


def _count(value, what: str, label: str) -> int:
  if isinstance(value, np.ndarray) and value.ndim == 0:
    value = value[()]
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
    raise TemplateError(label, f"{what} is {_short(repr(value))}, expected an integer")
  return int(value)


def _fps(value, label: str):
  if isinstance(value, np.ndarray) and value.ndim == 0:
    value = value[()]
  if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number))
      or isinstance(value, np.complexfloating) or not np.isfinite(value) or value <= 0):
    raise TemplateError(label, f"output_fps is {_short(repr(value))}, expected a positive number")
  return int(value) if float(value).is_integer() else float(value)


def _normalize(tpl: MotionTemplate, label: str):
  """Checks a template's fields and makes its arrays float32 and C-contiguous, in place."""
  tpl.output_fps = _fps(tpl.output_fps, label)
  if not isinstance(tpl.source_format, str):
    raise TemplateError(label, "source_format must be a string")
  arrays = {}
  for key in _MOTION_KEYS + _OPTIONAL_KEYS:
    value = getattr(tpl, key)
    if value is None:
      if key in _MOTION_KEYS:
        raise TemplateError(label, f"'{key}' is missing")
      continue
    arr = np.asarray(value)
    if arr.dtype.kind not in _NUMERIC_KINDS or arr.dtype.fields is not None:
      raise TemplateError(label, f"'{key}' has dtype {arr.dtype}, expected float32")
    arrays[key] = arr
  frames = arrays["exp"].shape[0] if arrays["exp"].ndim == 3 else -1
  if frames == 0:
    raise TemplateError(label, "has no frames")
  for key, arr in arrays.items():
    want = (frames,) + _SHAPES[key]
    if frames < 0 or arr.shape != want:
      shown = ("T",) + _SHAPES[key] if frames < 0 else want
      raise TemplateError(label, f"'{key}' has shape {arr.shape}, expected {shown}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    bad = ~np.isfinite(arr.reshape(frames, -1)).all(axis=1)
    if bad.any():
      raise TemplateError(label, f"'{key}' holds non-finite values (first at frame "
                          f"{int(np.argmax(bad))})")
    setattr(tpl, key, arr)


def _new_template(label: str, **fields) -> MotionTemplate:
  """Builds a template, naming `label` (the file) in any validation error."""
  try:
    return MotionTemplate(**fields)
  except TemplateError as e:
    raise TemplateError(label, e.problem) from None


def _frame_array(value, want: tuple, where: str, label: str) -> np.ndarray:
  if not isinstance(value, np.ndarray):
    raise TemplateError(label, f"{where} is a {type(value).__name__}, expected a float32 array of "
                        f"shape {want}")
  if value.shape != want:
    raise TemplateError(label, f"{where} has shape {value.shape}, expected {want}")
  return value[0]


def _stack(items, key: str, field: str, label: str, where: str) -> np.ndarray:
  """Stacks the [1, ...] per-frame arrays `items[i][key]` (or `items[i]` when key is None)."""
  shape = _SHAPES[field]
  out = np.empty((len(items),) + shape, np.float32)
  for i, item in enumerate(items):
    if key is not None and key not in item:
      raise TemplateError(label, f"{where}[{i}] has no '{key}'")
    value = item if key is None else item[key]
    if isinstance(value, np.ndarray) and value.dtype.kind not in _NUMERIC_KINDS:
      raise TemplateError(label, f"{where}[{i}] has dtype {value.dtype}, expected float32")
    out[i] = _frame_array(value, (1,) + shape,
                          f"{where}[{i}]" + ("" if key is None else f"['{key}']"), label)
  return out


def _from_official(obj, label: str) -> MotionTemplate:
  """Reads the official template dict (either key generation), checking what the official code
  would only find out mid-run."""
  if not isinstance(obj, dict):
    raise TemplateError(label, f"is not a motion template (it holds a {type(obj).__name__}, "
                        "expected a dict)")
  if "motion" not in obj:
    raise TemplateError(label, "is not a motion template (no 'motion' list)")
  frames = obj["motion"]
  if not isinstance(frames, (list, tuple)):
    raise TemplateError(label, f"'motion' is a {type(frames).__name__}, expected a list of "
                        "per-frame dicts")
  if not frames:
    raise TemplateError(label, "has no frames (the 'motion' list is empty)")
  if "n_frames" not in obj:
    raise TemplateError(label, "has no 'n_frames'")
  n_frames = _count(obj["n_frames"], "n_frames", label)
  if n_frames != len(frames):
    # The official loop trusts n_frames and would fail (or drop frames) part-way through.
    raise TemplateError(label, f"n_frames says {n_frames} but the 'motion' list holds "
                        f"{len(frames)} frames")
  for i, frame in enumerate(frames):
    if not isinstance(frame, dict):
      raise TemplateError(label, f"motion[{i}] is a {type(frame).__name__}, expected a dict")
  # As the official loader: the first frame decides between the current and the legacy name.
  rot_key = "R" if "R" in frames[0] else "R_d"
  legacy = rot_key == "R_d"
  fields = {key: _stack(frames, rot_key if key == "R" else key, key, label, "motion")
            for key in _MOTION_KEYS}
  for key in ("kp", "x_s"):
    present = sum(key in frame for frame in frames)
    if present == len(frames):
      fields[key] = _stack(frames, key, key, label, "motion")
    elif present:
      raise TemplateError(label, f"'{key}' is in {present} of {len(frames)} frames")
  for field, names in (("eye_ratios", _EYE_KEYS), ("lip_ratios", _LIP_KEYS)):
    name = next((n for n in names if n in obj), None)
    if name is None:
      continue
    legacy = legacy or name != names[0]
    ratios = obj[name]
    if not isinstance(ratios, (list, tuple)):
      raise TemplateError(label, f"'{name}' is a {type(ratios).__name__}, expected a list")
    if len(ratios) != len(frames):
      raise TemplateError(label, f"'{name}' holds {len(ratios)} entries for {len(frames)} frames")
    fields[field] = _stack(ratios, None, field, label, name)
  return _new_template(label, output_fps=_fps(obj.get("output_fps", DEFAULT_FPS), label),
                       source_format="pkl-legacy" if legacy else "pkl", **fields)


def _from_npz(path, label: str) -> MotionTemplate:
  if not os.path.exists(path):
    raise TemplateError(label, "no such file")
  if os.path.isdir(path):
    raise TemplateError(label, "is a directory, not a template file")
  try:
    loaded = np.load(path, allow_pickle=False)
  except Exception as e:  # pylint: disable=broad-except
    raise TemplateError(label, f"is not a readable npz ({_detail(e)})") from e
  if not isinstance(loaded, np.lib.npyio.NpzFile):
    raise TemplateError(label, "holds a single .npy array, not an lp_jax motion template")
  with loaded:
    missing = [key for key in _NPZ_REQUIRED if key not in loaded.files]
    if missing:
      raise TemplateError(label, f"is not an lp_jax motion template (missing {', '.join(missing)})")
    try:
      data = {key: loaded[key] for key in _NPZ_REQUIRED + _OPTIONAL_KEYS if key in loaded.files}
    except Exception as e:  # pylint: disable=broad-except
      # Object arrays (refused by allow_pickle=False), bad CRCs and cut-off members land here.
      raise TemplateError(label, f"is corrupt or holds object arrays ({_detail(e)})") from e
  version = _count(data.pop("lp_jax_template"), "lp_jax_template", label)
  if version != NPZ_VERSION:
    raise TemplateError(label, f"is an lp_jax template of format version {version}; this reader "
                        f"knows version {NPZ_VERSION}")
  n_frames = _count(data.pop("n_frames"), "n_frames", label)
  fps = _fps(data.pop("output_fps"), label)
  tpl = _new_template(label, output_fps=fps, source_format="npz", **data)
  if n_frames != tpl.n_frames:
    raise TemplateError(label, f"n_frames says {n_frames} but the arrays hold {tpl.n_frames} "
                        "frames")
  return tpl


def load_template(path) -> MotionTemplate:
  """Loads a motion template: an official `.pkl` (either key generation) or our `.npz`.

  Args:
    path: the template; the extension picks the format.

  Returns:
    The checked MotionTemplate.

  Raises:
    TemplateError: missing, unsafe, truncated or corrupt file, or not a motion template.
  """
  label = _label(path)
  ext = os.path.splitext(os.fsdecode(path))[1].lower()
  if ext == ".pkl":
    return _from_official(safe_load_pickle(path), label)
  if ext == ".npz":
    return _from_npz(path, label)
  raise TemplateError(label, "is not a motion template file: expected .pkl (official) or .npz "
                      "(lp_jax)")


# ------------------------------------------------------------------------------------------------
# Writing.


def _checked(tpl, label: str) -> MotionTemplate:
  if not isinstance(tpl, MotionTemplate):
    raise TemplateError(label, f"cannot save a {type(tpl).__name__} as a motion template")
  # Fields may have been reassigned since construction; validate a copy, not the caller's object.
  return _new_template(label, **{f.name: getattr(tpl, f.name) for f in dataclasses.fields(tpl)})


def _atomic_write(path, write, label: str):
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
    raise TemplateError(label, f"cannot be written ({_detail(e)})") from e
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
      raise TemplateError(label, f"cannot be written ({_detail(e)})") from e
    raise


def save_template(path, tpl: MotionTemplate) -> str:
  """Writes our pickle-free `.npz` (layout in the module docstring).

  Args:
    path: destination; name it `*.npz` so load_template reads it back.
    tpl: the template.

  Returns:
    `path`.
  """
  label = _label(path)
  tpl = _checked(tpl, label)
  arrays = {"lp_jax_template": np.int64(NPZ_VERSION), "n_frames": np.int64(tpl.n_frames),
            "output_fps": np.float64(tpl.output_fps)}
  for key in _MOTION_KEYS + _OPTIONAL_KEYS:
    if getattr(tpl, key) is not None:
      arrays[key] = getattr(tpl, key)
  # A file object keeps np.savez from appending '.npz' to the temporary name.
  _atomic_write(path, lambda f: np.savez(f, **arrays), label)
  return os.fspath(path)


def save_template_official_pkl(path, tpl: MotionTemplate) -> str:
  """Writes the official current-generation `.pkl` layout, readable by the official code.

  The dict holds `n_frames`, `output_fps`, `motion` (per-frame dicts of float32 arrays with a
  leading batch axis: scale (1, 1), R (1, 3, 3), exp (1, 21, 3), t (1, 3), and kp / x_s
  (1, 21, 3) when the template has them) and, when it has ratios, `c_eyes_lst` (list of (1, 2))
  and `c_lip_lst` (list of (1, 1)). Without ratios the file suits only the official animal
  pipeline (its human pipeline requires the ratio lists). Pickle protocol 4, as the official
  dumps on Python 3.8-3.13.

  Args:
    path: destination (`*.pkl`).
    tpl: the template.

  Returns:
    `path`.
  """
  label = _label(path)
  tpl = _checked(tpl, label)
  # Per-frame copies: a slice of the stacked array would pickle the same bytes, but owning them
  # keeps each frame independent for whoever loads the file.
  frame_keys = [k for k in _MOTION_KEYS + ("kp", "x_s") if getattr(tpl, k) is not None]
  motion = [{k: np.array(getattr(tpl, k)[i:i + 1], np.float32) for k in frame_keys}
            for i in range(tpl.n_frames)]
  obj = {"n_frames": int(tpl.n_frames), "output_fps": tpl.output_fps, "motion": motion}
  if tpl.eye_ratios is not None:
    obj["c_eyes_lst"] = [np.array(tpl.eye_ratios[i:i + 1], np.float32)
                         for i in range(tpl.n_frames)]
  if tpl.lip_ratios is not None:
    obj["c_lip_lst"] = [np.array(tpl.lip_ratios[i:i + 1], np.float32)
                        for i in range(tpl.n_frames)]
  _atomic_write(path, lambda f: pickle.dump(obj, f, protocol=4), label)
  return os.fspath(path)


def bundled_lip_array() -> np.ndarray:
  """The official neutral-lip constant, float64 [1, 21, 3], shipped as package data
  (`lp_jax/resources/lip_array.json`: the values of the official `lip_array.pkl`)."""
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resources", "lip_array.json")
  with open(path, encoding="utf-8") as f:
    doc = json.load(f)
  return np.asarray(doc["values"], np.float64).reshape(doc["shape"])


def load_lip_array(path) -> np.ndarray:
  """Loads the official neutral-lip constant (`lip_array.pkl`) with the allow-list unpickler.

  Returns:
    float64 [1, 21, 3].

  Raises:
    TemplateError: the file is missing, unsafe, corrupt or not a (1, 21, 3) float array.
  """
  label = _label(path)
  arr = safe_load_pickle(path)
  if type(arr) is not np.ndarray:  # pylint: disable=unidiomatic-typecheck
    raise TemplateError(label, f"holds a {type(arr).__name__}, expected the (1, 21, 3) lip array")
  if arr.shape != (1, NUM_KP, 3) or arr.dtype.kind != "f":
    raise TemplateError(label, f"holds a {arr.dtype} array of shape {arr.shape}, expected float "
                        f"(1, {NUM_KP}, 3)")
  if not np.isfinite(arr).all():
    raise TemplateError(label, "the lip array holds non-finite values")
  return np.array(arr, dtype=np.float64)

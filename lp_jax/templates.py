# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Motion templates: the official `.pkl` (both key generations) read safely, and our own
pickle-free `.npz`.

Official pickles are untrusted input: they are read with an allow-list unpickler that rebuilds
numpy arrays and plain containers only. Any other global (os.system, eval, a class) is refused
before anything runs.
"""

import dataclasses
import io
import os
import pickle
import zipfile

import numpy as np

SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}
NPZ_KEYS = ("n_frames", "output_fps", "scale", "R", "exp", "t")


class TemplateError(ValueError):
  """A bad template file; the message is one line naming the file."""


class _SafeUnpickler(pickle.Unpickler):

  def __init__(self, f, label):
    super().__init__(f)
    self.label = label

  def find_class(self, module, name):
    if (module, name) not in SAFE_GLOBALS:
      raise TemplateError(f"{self.label}: refused to unpickle global '{module}.{name}' (only "
                          "numpy arrays and plain containers are allowed)")
    return super().find_class(module, name)


def safe_load_pickle(path: str):
  """Unpickles numpy arrays, dicts, lists, tuples and scalars only."""
  if not os.path.isfile(path):
    raise TemplateError(f"{path}: no such file")
  with open(path, "rb") as f:
    data = f.read()
  try:
    obj = _SafeUnpickler(io.BytesIO(data), path).load()
  except TemplateError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise TemplateError(f"{path}: not a readable pickle ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:120] if str(e) else ''})") from None
  _refuse_object_arrays(obj, path)
  return obj


def _refuse_object_arrays(obj, label):
  if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
    raise TemplateError(f"{label}: object arrays are not allowed in a template")
  if isinstance(obj, dict):
    for v in obj.values():
      _refuse_object_arrays(v, label)
  elif isinstance(obj, (list, tuple)):
    for v in obj:
      _refuse_object_arrays(v, label)


@dataclasses.dataclass
class MotionTemplate:
  """Per-frame driving motion, stacked over T frames (float32)."""
  output_fps: int
  scale: np.ndarray  # [T, 1]
  R: np.ndarray  # [T, 3, 3], the official transposed rotation (x @ R)
  exp: np.ndarray  # [T, K, 3]
  t: np.ndarray  # [T, 3], tz kept
  kp: np.ndarray | None = None  # [T, K, 3] canonical keypoints (current generation only)
  x_s: np.ndarray | None = None  # [T, K, 3] transformed keypoints
  eye_ratios: np.ndarray | None = None  # [T, 2]
  lip_ratios: np.ndarray | None = None  # [T, 1]

  @property
  def n_frames(self) -> int:
    return self.exp.shape[0]

  def motion(self) -> dict:
    return {"scale": self.scale, "R": self.R, "exp": self.exp, "t": self.t}


def _stack(frames, key, shape, label):
  try:
    arr = np.stack([np.asarray(f[key], np.float32).reshape(shape) for f in frames])
  except (KeyError, TypeError, ValueError) as e:
    raise TemplateError(f"{label}: motion entries need {key!r} of shape {shape} "
                        f"({type(e).__name__})") from None
  if not np.isfinite(arr).all():
    raise TemplateError(f"{label}: {key!r} holds non-finite values")
  return arr


def _from_official(obj, label) -> MotionTemplate:
  if not isinstance(obj, dict) or "motion" not in obj:
    raise TemplateError(f"{label}: not a LivePortrait motion template (no 'motion' list)")
  frames = obj["motion"]
  if not isinstance(frames, list) or not frames:
    raise TemplateError(f"{label}: the template has no frames")
  if "n_frames" in obj and int(obj["n_frames"]) != len(frames):
    raise TemplateError(f"{label}: n_frames says {int(obj['n_frames'])} but 'motion' holds "
                        f"{len(frames)} frames")
  if not all(isinstance(f, dict) for f in frames):
    raise TemplateError(f"{label}: motion entries must be dicts")
  rot_key = "R" if "R" in frames[0] else "R_d"  # the shipped d*.pkl use the legacy name
  k = np.asarray(frames[0].get("exp", np.zeros(63))).size // 3
  tpl = MotionTemplate(
      output_fps=int(obj.get("output_fps", 25)),
      scale=_stack(frames, "scale", (1,), label), R=_stack(frames, rot_key, (3, 3), label),
      exp=_stack(frames, "exp", (k, 3), label), t=_stack(frames, "t", (3,), label))
  if all("kp" in f for f in frames):
    tpl.kp = _stack(frames, "kp", (k, 3), label)
  if all("x_s" in f for f in frames):
    tpl.x_s = _stack(frames, "x_s", (k, 3), label)
  for attr, keys, width in (("eye_ratios", ("c_eyes_lst", "c_d_eyes_lst"), 2),
                            ("lip_ratios", ("c_lip_lst", "c_d_lip_lst"), 1)):
    key = next((name for name in keys if name in obj), None)
    if key is not None:
      lst = obj[key]
      if len(lst) != len(frames):
        raise TemplateError(f"{label}: {key} has {len(lst)} entries for {len(frames)} frames")
      setattr(tpl, attr, _stack([{"v": v} for v in lst], "v", (width,), label))
  return tpl


def load_template(path: str) -> MotionTemplate:
  """An official .pkl (keys R / R_d, c_eyes_lst / c_d_eyes_lst, ...) or our .npz."""
  ext = os.path.splitext(path)[1].lower()
  if ext == ".pkl":
    return _from_official(safe_load_pickle(path), path)
  if ext == ".npz":
    if not os.path.isfile(path):
      raise TemplateError(f"{path}: no such file")
    try:
      with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
      raise TemplateError(f"{path}: not a readable npz ({type(e).__name__})") from None
    missing = [k for k in NPZ_KEYS if k not in data]
    if missing:
      raise TemplateError(f"{path}: not an lp_jax motion template (missing {', '.join(missing)})")
    frames = [{k: data[k][i] for k in ("scale", "R", "exp", "t")} for i in range(len(data["exp"]))]
    obj = {"n_frames": int(data["n_frames"]), "output_fps": int(data["output_fps"]),
           "motion": frames}
    for k in ("kp", "x_s"):
      if k in data:
        for f, v in zip(frames, data[k]):
          f[k] = v
    if "eye_ratios" in data:
      obj["c_eyes_lst"] = list(data["eye_ratios"])
    if "lip_ratios" in data:
      obj["c_lip_lst"] = list(data["lip_ratios"])
    return _from_official(obj, path)
  raise TemplateError(f"{path}: a template must be .pkl (official) or .npz (lp_jax)")


def _atomic(path: str, write) -> str:
  path = os.path.abspath(path)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  stem, ext = os.path.splitext(path)
  tmp = f"{stem}.partial-{os.getpid()}{ext}"
  try:
    write(tmp)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return path


def save_template(path: str, tpl: MotionTemplate) -> str:
  """Our safe format: an npz of stacked float32 arrays, no pickles."""
  arrays = {"n_frames": np.int64(tpl.n_frames), "output_fps": np.int64(tpl.output_fps),
            "scale": tpl.scale, "R": tpl.R, "exp": tpl.exp, "t": tpl.t}
  for name in ("kp", "x_s", "eye_ratios", "lip_ratios"):
    if getattr(tpl, name) is not None:
      arrays[name] = getattr(tpl, name)

  def write(tmp):
    with open(tmp, "wb") as f:
      np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})

  return _atomic(path, write)


def save_template_official_pkl(path: str, tpl: MotionTemplate) -> str:
  """The official current-generation pkl layout (readable by the official pipeline)."""
  motion = []
  for i in range(tpl.n_frames):
    frame = {"scale": tpl.scale[i][None], "R": tpl.R[i][None], "exp": tpl.exp[i][None],
             "t": tpl.t[i][None]}
    for name in ("kp", "x_s"):
      if getattr(tpl, name) is not None:
        frame[name] = getattr(tpl, name)[i][None]
    motion.append({k: np.asarray(v, np.float32) for k, v in frame.items()})
  obj = {"n_frames": tpl.n_frames, "output_fps": tpl.output_fps, "motion": motion}
  if tpl.eye_ratios is not None:
    obj["c_eyes_lst"] = [np.asarray(r, np.float32).reshape(1, 2) for r in tpl.eye_ratios]
  if tpl.lip_ratios is not None:
    obj["c_lip_lst"] = [np.asarray(r, np.float32).reshape(1, 1) for r in tpl.lip_ratios]

  def write(tmp):
    with open(tmp, "wb") as f:
      pickle.dump(obj, f, protocol=4)

  return _atomic(path, write)


def load_lip_array(path: str) -> np.ndarray:
  """The official neutral-lip expression constant (float64 [1, 21, 3])."""
  arr = safe_load_pickle(path)
  if not isinstance(arr, np.ndarray) or arr.size != 63:
    raise TemplateError(f"{path}: expected a (1, 21, 3) array")
  return np.asarray(arr, np.float64).reshape(1, 21, 3)

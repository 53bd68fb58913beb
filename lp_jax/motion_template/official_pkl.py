# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The official LivePortrait motion-template `.pkl`: read (without trusting it) and written.

Both official key generations are read: legacy (`R_d`, `c_d_eyes_lst`, `c_d_lip_lst`; the shipped
d*.pkl) and current (`R`, `c_eyes_lst`, `c_lip_lst`, per-frame `kp` and `x_s`). The file is a
dict with `n_frames`, `output_fps` and a `motion` list of per-frame dicts of arrays with a
leading batch axis of 1.
"""

import os
import pickle

import numpy as np

from lp_jax.motion_template import template
from lp_jax.motion_template.atomic import atomic_write
from lp_jax.motion_template.errors import TemplateError, file_label
from lp_jax.motion_template.numpy_pickle import NUMERIC_KINDS, safe_load_pickle

# (current, legacy) official names; the official loader takes the current one when both exist.
_EYE_KEYS = ("c_eyes_lst", "c_d_eyes_lst")
_LIP_KEYS = ("c_lip_lst", "c_d_lip_lst")


def _frame_array(value, want: tuple, where: str, label: str) -> np.ndarray:
  if not isinstance(value, np.ndarray):
    raise TemplateError(label, f"{where} is a {type(value).__name__}, expected a float32 array of "
                        f"shape {want}")
  if value.shape != want:
    raise TemplateError(label, f"{where} has shape {value.shape}, expected {want}")
  return value[0]


def _stack(items, key: str, field: str, label: str, where: str) -> np.ndarray:
  """Stacks the [1, ...] per-frame arrays `items[i][key]` (or `items[i]` when key is None)."""
  shape = template.SHAPES[field]
  out = np.empty((len(items),) + shape, np.float32)
  for i, item in enumerate(items):
    if key is not None and key not in item:
      raise TemplateError(label, f"{where}[{i}] has no '{key}'")
    value = item if key is None else item[key]
    if isinstance(value, np.ndarray) and value.dtype.kind not in NUMERIC_KINDS:
      raise TemplateError(label, f"{where}[{i}] has dtype {value.dtype}, expected float32")
    out[i] = _frame_array(value, (1,) + shape,
                          f"{where}[{i}]" + ("" if key is None else f"['{key}']"), label)
  return out


def _from_official(obj, label: str) -> template.MotionTemplate:
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
  n_frames = template.as_count(obj["n_frames"], "n_frames", label)
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
            for key in template.MOTION_KEYS}
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
  output_fps = template.as_fps(obj.get("output_fps", template.DEFAULT_FPS), label)
  return template.new_template(label, output_fps=output_fps,
                               source_format="pkl-legacy" if legacy else "pkl", **fields)


def load_official_pkl(path) -> template.MotionTemplate:
  """Loads an official `.pkl` template (either key generation) with the allow-list unpickler.

  Raises:
    TemplateError: missing, unsafe, truncated or corrupt file, or not a motion template.
  """
  return _from_official(safe_load_pickle(path), file_label(path))


def save_template_official_pkl(path, tpl: template.MotionTemplate) -> str:
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
  label = file_label(path)
  tpl = template.checked(tpl, label)
  # Per-frame copies: a slice of the stacked array would pickle the same bytes, but owning them
  # keeps each frame independent for whoever loads the file.
  frame_keys = [k for k in template.MOTION_KEYS + ("kp", "x_s") if getattr(tpl, k) is not None]
  motion = [{k: np.array(getattr(tpl, k)[i:i + 1], np.float32) for k in frame_keys}
            for i in range(tpl.n_frames)]
  obj = {"n_frames": int(tpl.n_frames), "output_fps": tpl.output_fps, "motion": motion}
  if tpl.eye_ratios is not None:
    obj["c_eyes_lst"] = [np.array(tpl.eye_ratios[i:i + 1], np.float32)
                         for i in range(tpl.n_frames)]
  if tpl.lip_ratios is not None:
    obj["c_lip_lst"] = [np.array(tpl.lip_ratios[i:i + 1], np.float32)
                        for i in range(tpl.n_frames)]
  atomic_write(path, lambda f: pickle.dump(obj, f, protocol=4), label)
  return os.fspath(path)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The motion template type: per-frame driving motion stacked over T frames, checked.

Shapes (T = frames): scale [T, 1], R [T, 3, 3] (the official transposed rotation, applied as
x @ R), exp [T, 21, 3], t [T, 3], and optionally kp / x_s [T, 21, 3], eye_ratios [T, 2],
lip_ratios [T, 1]. The file formats that hold one are official_pkl and npz.
"""

import dataclasses

import numpy as np

from lp_jax.motion_template.errors import TemplateError, shorten
from lp_jax.motion_template.numpy_pickle import NUMERIC_KINDS

NUM_KP = 21
# The official pipeline's frame rate when a template has no `output_fps`.
DEFAULT_FPS = 25

# One frame's shape per field, without the leading batch axis of the official per-frame arrays.
SHAPES = {
    "scale": (1,), "R": (3, 3), "exp": (NUM_KP, 3), "t": (3,),
    "kp": (NUM_KP, 3), "x_s": (NUM_KP, 3), "eye_ratios": (2,), "lip_ratios": (1,),
}
MOTION_KEYS = ("scale", "R", "exp", "t")
OPTIONAL_KEYS = ("kp", "x_s", "eye_ratios", "lip_ratios")


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
    return {key: getattr(self, key) for key in MOTION_KEYS}


def as_count(value, what: str, label: str) -> int:
  """`value` (a Python or numpy integer, or a 0-d array of one) as an int."""
  if isinstance(value, np.ndarray) and value.ndim == 0:
    value = value[()]
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
    raise TemplateError(label, f"{what} is {shorten(repr(value))}, expected an integer")
  return int(value)


def as_fps(value, label: str):
  """`value` as a positive frame rate (int when whole)."""
  if isinstance(value, np.ndarray) and value.ndim == 0:
    value = value[()]
  if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number))
      or isinstance(value, np.complexfloating) or not np.isfinite(value) or value <= 0):
    raise TemplateError(label, f"output_fps is {shorten(repr(value))}, expected a positive number")
  return int(value) if float(value).is_integer() else float(value)


def _normalize(tpl: MotionTemplate, label: str):
  """Checks a template's fields and makes its arrays float32 and C-contiguous, in place."""
  tpl.output_fps = as_fps(tpl.output_fps, label)
  if not isinstance(tpl.source_format, str):
    raise TemplateError(label, "source_format must be a string")
  arrays = {}
  for key in MOTION_KEYS + OPTIONAL_KEYS:
    value = getattr(tpl, key)
    if value is None:
      if key in MOTION_KEYS:
        raise TemplateError(label, f"'{key}' is missing")
      continue
    arr = np.asarray(value)
    if arr.dtype.kind not in NUMERIC_KINDS or arr.dtype.fields is not None:
      raise TemplateError(label, f"'{key}' has dtype {arr.dtype}, expected float32")
    arrays[key] = arr
  frames = arrays["exp"].shape[0] if arrays["exp"].ndim == 3 else -1
  if frames == 0:
    raise TemplateError(label, "has no frames")
  for key, arr in arrays.items():
    want = (frames,) + SHAPES[key]
    if frames < 0 or arr.shape != want:
      shown = ("T",) + SHAPES[key] if frames < 0 else want
      raise TemplateError(label, f"'{key}' has shape {arr.shape}, expected {shown}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    bad = ~np.isfinite(arr.reshape(frames, -1)).all(axis=1)
    if bad.any():
      raise TemplateError(label, f"'{key}' holds non-finite values (first at frame "
                          f"{int(np.argmax(bad))})")
    setattr(tpl, key, arr)


def new_template(label: str, **fields) -> MotionTemplate:
  """Builds a template, naming `label` (the file) in any validation error."""
  try:
    return MotionTemplate(**fields)
  except TemplateError as e:
    raise TemplateError(label, e.problem) from None


def checked(tpl, label: str) -> MotionTemplate:
  """A validated copy of `tpl` for writing (TemplateError naming `label` if it is not valid)."""
  if not isinstance(tpl, MotionTemplate):
    raise TemplateError(label, f"cannot save a {type(tpl).__name__} as a motion template")
  # Fields may have been reassigned since construction; validate a copy, not the caller's object.
  return new_template(label, **{f.name: getattr(tpl, f.name) for f in dataclasses.fields(tpl)})

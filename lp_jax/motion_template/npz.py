# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax's own pickle-free template file, written by `save_template` and read by `load_npz` with
`allow_pickle=False` (T = frames):

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
"""

import os

import numpy as np

from lp_jax.motion_template import template
from lp_jax.motion_template.atomic import atomic_write
from lp_jax.motion_template.errors import TemplateError, describe, file_label

NPZ_VERSION = 1
_NPZ_REQUIRED = ("lp_jax_template", "n_frames", "output_fps") + template.MOTION_KEYS


def _from_npz(path, label: str) -> template.MotionTemplate:
  if not os.path.exists(path):
    raise TemplateError(label, "no such file")
  if os.path.isdir(path):
    raise TemplateError(label, "is a directory, not a template file")
  try:
    loaded = np.load(path, allow_pickle=False)
  except Exception as e:  # pylint: disable=broad-except
    raise TemplateError(label, f"is not a readable npz ({describe(e)})") from e
  if not isinstance(loaded, np.lib.npyio.NpzFile):
    raise TemplateError(label, "holds a single .npy array, not an lp_jax motion template")
  with loaded:
    missing = [key for key in _NPZ_REQUIRED if key not in loaded.files]
    if missing:
      raise TemplateError(label, f"is not an lp_jax motion template (missing {', '.join(missing)})")
    try:
      data = {key: loaded[key] for key in _NPZ_REQUIRED + template.OPTIONAL_KEYS
              if key in loaded.files}
    except Exception as e:  # pylint: disable=broad-except
      # Object arrays (refused by allow_pickle=False), bad CRCs and cut-off members land here.
      raise TemplateError(label, f"is corrupt or holds object arrays ({describe(e)})") from e
  version = template.as_count(data.pop("lp_jax_template"), "lp_jax_template", label)
  if version != NPZ_VERSION:
    raise TemplateError(label, f"is an lp_jax template of format version {version}; this reader "
                        f"knows version {NPZ_VERSION}")
  n_frames = template.as_count(data.pop("n_frames"), "n_frames", label)
  fps = template.as_fps(data.pop("output_fps"), label)
  tpl = template.new_template(label, output_fps=fps, source_format="npz", **data)
  if n_frames != tpl.n_frames:
    raise TemplateError(label, f"n_frames says {n_frames} but the arrays hold {tpl.n_frames} "
                        "frames")
  return tpl


def load_npz(path) -> template.MotionTemplate:
  """Loads our `.npz` template.

  Raises:
    TemplateError: missing, truncated or corrupt file, or not an lp_jax motion template.
  """
  return _from_npz(path, file_label(path))


def save_template(path, tpl: template.MotionTemplate) -> str:
  """Writes our pickle-free `.npz` (layout in the module docstring).

  Args:
    path: destination; name it `*.npz` so load_template reads it back.
    tpl: the template.

  Returns:
    `path`.
  """
  label = file_label(path)
  tpl = template.checked(tpl, label)
  arrays = {"lp_jax_template": np.int64(NPZ_VERSION), "n_frames": np.int64(tpl.n_frames),
            "output_fps": np.float64(tpl.output_fps)}
  for key in template.MOTION_KEYS + template.OPTIONAL_KEYS:
    if getattr(tpl, key) is not None:
      arrays[key] = getattr(tpl, key)
  # A file object keeps np.savez from appending '.npz' to the temporary name.
  atomic_write(path, lambda f: np.savez(f, **arrays), label)
  return os.fspath(path)

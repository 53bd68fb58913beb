# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Loading a motion template file of either format, chosen by its extension."""

import os

from lp_jax.motion_template import template
from lp_jax.motion_template.errors import TemplateError, file_label
from lp_jax.motion_template.npz import load_npz
from lp_jax.motion_template.official_pkl import load_official_pkl


def load_template(path) -> template.MotionTemplate:
  """Loads a motion template: an official `.pkl` (either key generation) or our `.npz`.

  Args:
    path: the template; the extension picks the format.

  Returns:
    The checked MotionTemplate.

  Raises:
    TemplateError: missing, unsafe, truncated or corrupt file, or not a motion template.
  """
  label = file_label(path)
  ext = os.path.splitext(os.fsdecode(path))[1].lower()
  if ext == ".pkl":
    return load_official_pkl(path)
  if ext == ".npz":
    return load_npz(path)
  raise TemplateError(label, "is not a motion template file: expected .pkl (official) or .npz "
                      "(lp_jax)")

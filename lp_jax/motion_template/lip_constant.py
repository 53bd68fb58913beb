# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The official neutral-lip constant (the lip keypoints the lip retargeting closes towards)."""

import json
import os

import numpy as np

from lp_jax.motion_template.errors import TemplateError, file_label
from lp_jax.motion_template.numpy_pickle import safe_load_pickle
from lp_jax.motion_template.template import NUM_KP

_RESOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "resources")


def bundled_lip_array() -> np.ndarray:
  """The official neutral-lip constant, float64 [1, 21, 3], shipped as package data
  (`lp_jax/resources/lip_array.json`: the values of the official `lip_array.pkl`)."""
  path = os.path.join(_RESOURCES, "lip_array.json")
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
  label = file_label(path)
  arr = safe_load_pickle(path)
  if type(arr) is not np.ndarray:  # pylint: disable=unidiomatic-typecheck
    raise TemplateError(label, f"holds a {type(arr).__name__}, expected the (1, 21, 3) lip array")
  if arr.shape != (1, NUM_KP, 3) or arr.dtype.kind != "f":
    raise TemplateError(label, f"holds a {arr.dtype} array of shape {arr.shape}, expected float "
                        f"(1, {NUM_KP}, 3)")
  if not np.isfinite(arr).all():
    raise TemplateError(label, "the lip array holds non-finite values")
  return np.array(arr, dtype=np.float64)

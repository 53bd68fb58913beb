# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Eye and lip openness ratios on the 203-point landmarks (official `retargeting_utils.py`).

Each ratio is a distance between two landmarks over a reference distance (+1e-6), so it does not
depend on where the landmarks live (original image or crop coordinates; the official pipeline
mixes both). Arrays keep the landmarks' dtype (float32 from the landmark model).
"""

import dataclasses

import numpy as np

EPS = 1e-6
LEFT_EYE = (6, 18, 0, 12)  # upper/lower lid mid-points over the eye corners
RIGHT_EYE = (30, 42, 24, 36)
LIP = (90, 102, 48, 66)  # inner-lip mid-points over the mouth corners


@dataclasses.dataclass
class Ratios:
  """Eye [*, 2] and lip [*, 1] close ratios of frames (None when unknown)."""
  eye: np.ndarray | None = None
  lip: np.ndarray | None = None


def _batched(lmk) -> np.ndarray:
  lmk = np.asarray(lmk)
  return lmk[None] if lmk.ndim == 2 else lmk


def distance_ratio(lmk, a: int, b: int, c: int, d: int, eps: float = EPS) -> np.ndarray:
  """|L[a] - L[b]| / (|L[c] - L[d]| + eps) per batch row, shape [B, 1]."""
  lmk = _batched(lmk)
  num = np.linalg.norm(lmk[:, a] - lmk[:, b], axis=1, keepdims=True)
  den = np.linalg.norm(lmk[:, c] - lmk[:, d], axis=1, keepdims=True)
  return num / (den + eps)


def eye_close_ratio(lmk, target_eye_ratio=None) -> np.ndarray:
  """[B, 2] (left, right) eye ratios of [B, 203, 2] or [203, 2] landmarks.

  With target_eye_ratio ([B, k]) its columns are appended, as in the official helper.
  """
  ratio = np.concatenate([distance_ratio(lmk, *LEFT_EYE), distance_ratio(lmk, *RIGHT_EYE)], axis=1)
  if target_eye_ratio is not None:
    ratio = np.concatenate([ratio, np.asarray(target_eye_ratio)], axis=1)
  return ratio


def lip_close_ratio(lmk) -> np.ndarray:
  """[B, 1] lip ratio of [B, 203, 2] or [203, 2] landmarks."""
  return distance_ratio(lmk, *LIP)


def calc_ratio(lmk_lst):
  """Per-frame ([1, 2] eye, [1, 1] lip) ratio lists, like `LivePortraitWrapper.calc_ratio`."""
  return [eye_close_ratio(l) for l in lmk_lst], [lip_close_ratio(l) for l in lmk_lst]


def combined_eye_ratio(c_d_eyes_i, source_lmk) -> np.ndarray:
  """Eye-retargeting condition [1, 3] float32: [c_s left, c_s right, driving target].

  Official quirk: the target is `c_d_eyes_i[0][0]`, i.e. for a driving frame's [1, 2] ratio only
  its LEFT eye is used (a scalar target works too).
  """
  c_s = eye_close_ratio(source_lmk).astype(np.float32)
  target = np.asarray(c_d_eyes_i, np.float32).reshape(-1)[0]
  return np.concatenate([c_s, np.full((1, 1), target, np.float32)], axis=1)


def combined_lip_ratio(c_d_lip_i, source_lmk) -> np.ndarray:
  """Lip-retargeting condition [1, 2] float32: [c_s lip, driving lip ratio c_d_lip_i[0]]."""
  c_s = lip_close_ratio(source_lmk).astype(np.float32)
  target = np.asarray(c_d_lip_i, np.float32).reshape(-1)[0]
  return np.concatenate([c_s, np.full((1, 1), target, np.float32)], axis=1)


def of_landmarks(lmk: np.ndarray) -> Ratios:
  """Eye [n, 2] and lip [n, 1] ratios of [n, 203, 2] landmarks."""
  return Ratios(eye=eye_close_ratio(lmk), lip=lip_close_ratio(lmk))

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Driving keypoints of every output frame for an image source (official Algorithm 1).

Batched over frames: the motion of all driving frames is assembled at once, the stitching and
retargeting MLPs run on the whole [T, K, 3] stack, and only W+G is left per frame.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from lp_jax.inference.options import AnimationOptions
from lp_jax.ops import motion


@dataclasses.dataclass
class Ratios:
  """Eye [*, 2] and lip [*, 1] close ratios from 203-point landmarks (None when unknown)."""
  eye: np.ndarray | None = None
  lip: np.ndarray | None = None


def image_source_keypoints(models, src: dict, x_s, drv: dict, options: AnimationOptions, *,
                           driving_is_video: bool, lip_array=None,
                           source_ratios: Ratios | None = None,
                           driving_ratios: Ratios | None = None,
                           drv0: dict | None = None) -> tuple[jnp.ndarray, list[str]]:
  """x_d [T, K, 3] for every driving frame, and notes on features that could not run.

  Args:
    models: LivePortraitModels (stitching / retargeting MLPs).
    src: source motion (batch 1) with kp, exp, scale, t, R.
    x_s: [1, K, 3] transformed source keypoints.
    drv: driving motion [T] with exp, scale, t, R (from a video, an image or a template).
    options: the animation options.
    driving_is_video: more than one driving frame (the official `flag_is_driving_video`).
    lip_array: [1, K, 3] neutral-lip expression, needed for image driving with relative motion.
    source_ratios / driving_ratios: eye and lip ratios, needed for retargeting and lip
      normalisation; without them those features are off and a note says why.
    drv0: motion of the first driving frame when `drv` is a later chunk of a stream (default:
      drv's own first frame). Everything else is per frame, so chunks can be streamed.
  """
  notes = []
  relative = options.flag_relative_motion
  region = options.animation_region
  drv0 = {k: v[:1] for k, v in (drv0 or drv).items()}
  anchor = None
  if relative and not driving_is_video:
    if lip_array is None:
      raise ValueError("image driving with relative motion needs the neutral lip_array")
    # The official image-driven mode measures expressions from a neutral mouth (the eyes
    # region from zero), not from the driving image itself, which would cancel all motion.
    anchor = (jnp.zeros_like(drv0["exp"]) if region == "eyes"
              else jnp.asarray(lip_array, jnp.float32))
  assemble = lambda d: motion.driving_keypoints(src, d, drv0, relative=relative, region=region,
                                                exp_anchor=anchor)
  x_d = assemble(drv)
  if relative and driving_is_video and options.driving_option == "expression-friendly":
    x_d0 = assemble(drv0)  # the first frame's keypoints set the multiplier for all frames
    mm = motion.motion_multiplier(np.asarray(x_s), np.asarray(x_d0))
    x_d = motion.expression_friendly(x_d, x_s, x_d0, mm)

  src_eye = source_ratios.eye if source_ratios else None
  src_lip = source_ratios.lip if source_ratios else None
  lip_delta_before = None
  if options.flag_normalize_lip:
    if not relative:
      notes.append("lip normalisation is off: it needs relative motion")
    elif src_lip is None:
      notes.append("lip normalisation is off: no source landmarks (needs landmark.onnx)")
    elif float(np.asarray(src_lip).reshape(-1)[0]) >= options.lip_normalize_threshold:
      cond = jnp.asarray([[float(np.asarray(src_lip).reshape(-1)[0]), 0.0]], jnp.float32)
      lip_delta_before = models.retarget_lip(x_s, cond)

  retarget_eye = options.flag_eye_retargeting
  retarget_lip = options.flag_lip_retargeting
  if (retarget_eye or retarget_lip) and (src_eye is None or driving_ratios is None
                                          or driving_ratios.eye is None):
    notes.append("eye/lip retargeting is off: no landmarks for the source or the driving "
                 "frames (needs landmark.onnx, or a template with ratio lists)")
    retarget_eye = retarget_lip = False

  frames = x_d.shape[0]
  if retarget_eye or retarget_lip:
    delta = jnp.zeros_like(x_d)
    if retarget_eye:
      c_s = np.broadcast_to(np.asarray(src_eye, np.float32).reshape(1, 2), (frames, 2))
      c_d = np.asarray(driving_ratios.eye, np.float32).reshape(frames, -1)[:, :1]  # left eye
      delta = delta + models.retarget_eye(x_s, jnp.asarray(np.concatenate([c_s, c_d], 1)))
    if retarget_lip:
      c_s = np.broadcast_to(np.asarray(src_lip, np.float32).reshape(1, 1), (frames, 1))
      c_d = np.asarray(driving_ratios.lip, np.float32).reshape(frames, 1)
      delta = delta + models.retarget_lip(x_s, jnp.asarray(np.concatenate([c_s, c_d], 1)))
    # With relative motion the official code replaces the driving motion by the deltas.
    x_d = (x_s + delta) if relative else (x_d + delta)
    if options.flag_stitching:
      x_d = models.stitching(x_s, x_d)
  else:
    if options.flag_stitching:
      x_d = models.stitching(x_s, x_d)
    if lip_delta_before is not None:
      x_d = x_d + lip_delta_before  # after stitching, as the official loop does
  return motion.apply_driving_multiplier(x_d, x_s, options.driving_multiplier), notes

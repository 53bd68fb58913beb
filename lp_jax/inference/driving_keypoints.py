# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Driving keypoints of every output frame for an image source (official Algorithm 1).

Batched over frames: the motion of all driving frames is assembled at once, the stitching and
retargeting MLPs run on the whole [T, K, 3] stack, and only W+G is left per frame.
"""

import jax.numpy as jnp
import numpy as np

from lp_jax.inference.options import AnimationOptions
from lp_jax.ops import keypoints
from lp_jax.ops import motion
from lp_jax.preprocess import smooth
from lp_jax.preprocess.ratios import Ratios


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

  x_d = stitch_and_retarget(models, x_s, x_d, options, relative=relative,
                            source_ratios=source_ratios, driving_ratios=driving_ratios,
                            notes=notes)
  return motion.apply_driving_multiplier(x_d, x_s, options.driving_multiplier), notes


def animal_keypoints(models, src: dict, x_s, drv: dict, options: AnimationOptions, *,
                     drv0: dict | None = None) -> jnp.ndarray:
  """x_d [T, K, 3] of the official animals pipeline (image source, video / template driving).

  The driving rotation, expression and translation are taken as they are (absolute, every
  keypoint row) with the source's scale, then normalised like the expression-friendly option
  (first-frame hull multiplier), stitched (when on) and scaled by the driving multiplier; there
  is no relative motion, region, retargeting or lip normalisation.
  """
  drv0 = {k: v[:1] for k, v in (drv0 or drv).items()}
  assemble = lambda d: keypoints.transform_keypoint(src["kp"], d["R"], d["exp"], src["scale"],
                                                    d["t"])
  x_d, x_d0 = assemble(drv), assemble(drv0)
  mm = motion.motion_multiplier(np.asarray(x_s), np.asarray(x_d0))
  x_d = motion.expression_friendly(x_d, x_s, x_d0, mm)
  if options.flag_stitching:
    x_d = models.stitching(x_s, x_d)
  return motion.apply_driving_multiplier(x_d, x_s, options.driving_multiplier)


def lip_normalisation(models, x_s, source_ratios: Ratios | None, options: AnimationOptions,
                      notes: list):
  """lipDelta0 [T, K, 3] closing the source lips (zero for frames under the threshold), or None.

  The official pipeline computes it per source frame from R_lip(x_s, [c_s,lip, 0]) and uses it
  only where c_s,lip >= lip_normalize_threshold.
  """
  if not options.flag_normalize_lip:
    return None
  if not options.flag_relative_motion:
    notes.append("lip normalisation is off: it needs relative motion")
    return None
  if source_ratios is None or source_ratios.lip is None:
    notes.append("lip normalisation is off: no source landmarks (needs landmark.onnx)")
    return None
  c_lip = np.asarray(source_ratios.lip, np.float32).reshape(-1, 1)
  on = c_lip[:, 0] >= options.lip_normalize_threshold
  if not on.any():
    return None
  cond = np.concatenate([c_lip, np.zeros_like(c_lip)], axis=1)
  delta = models.retarget_lip(x_s, jnp.asarray(cond))
  return jnp.where(jnp.asarray(on)[:, None, None], delta, 0.0)


def stitch_and_retarget(models, x_s, x_d, options: AnimationOptions, *, relative: bool,
                        source_ratios: Ratios | None, driving_ratios: Ratios | None,
                        notes: list, eye_delta_before=None):
  """Official Algorithm 1 on [T, K, 3] keypoints: stitching, eye / lip retargeting, lip
  normalisation (lipDelta0) and source-video eye retargeting (eyeDelta0).

  `x_s` and the source ratios are per frame ([T, ...], source video) or shared ([1, ...]).
  """
  lip_delta_before = lip_normalisation(models, x_s, source_ratios, options, notes)
  src_eye = source_ratios.eye if source_ratios else None
  src_lip = source_ratios.lip if source_ratios else None
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
      c_s = np.broadcast_to(np.asarray(src_eye, np.float32).reshape(-1, 2), (frames, 2))
      c_d = np.asarray(driving_ratios.eye, np.float32).reshape(frames, -1)[:, :1]  # left eye
      delta = delta + models.retarget_eye(x_s, jnp.asarray(np.concatenate([c_s, c_d], 1)))
    if retarget_lip:
      c_s = np.broadcast_to(np.asarray(src_lip, np.float32).reshape(-1, 1), (frames, 1))
      c_d = np.asarray(driving_ratios.lip, np.float32).reshape(frames, 1)
      delta = delta + models.retarget_lip(x_s, jnp.asarray(np.concatenate([c_s, c_d], 1)))
    # With relative motion the official code replaces the driving motion by the deltas.
    x_d = (x_s + delta) if relative else (x_d + delta)
    if options.flag_stitching:
      x_d = models.stitching(x_s, x_d)
    return x_d
  if options.flag_stitching:
    x_d = models.stitching(x_s, x_d)
  if lip_delta_before is not None:
    x_d = x_d + lip_delta_before  # after stitching, as the official loop does
  if eye_delta_before is not None:
    x_d = x_d + eye_delta_before
  return x_d


def source_video_eye_delta(models, x_s, source_ratios: Ratios | None,
                           options: AnimationOptions, notes: list):
  """eyeDelta0 [T, K, 3]: keeps every source frame's eyes as open as in the first frame.

  The target is the mean of frame 0's two eye ratios, or 0.39 when that is under
  `source_video_eye_retargeting_threshold` (eyes closed at the start).
  """
  if not options.flag_source_video_eye_retargeting:
    return None
  if source_ratios is None or source_ratios.eye is None:
    notes.append("source-video eye retargeting is off: no source landmarks (needs "
                 "landmark.onnx)")
    return None
  c_s = np.asarray(source_ratios.eye, np.float32).reshape(-1, 2)
  target = float(c_s[0, :2].mean())
  if target < options.source_video_eye_retargeting_threshold:
    target = 0.39
  cond = np.concatenate([c_s, np.full((c_s.shape[0], 1), target, np.float32)], axis=1)
  return models.retarget_eye(x_s, jnp.asarray(cond))


def video_source_keypoints(models, src: dict, x_s, drv: dict, options: AnimationOptions, *,
                           driving_is_video: bool, lip_array=None,
                           source_ratios: Ratios | None = None,
                           driving_ratios: Ratios | None = None):
  """x_d [T, K, 3] for a source video of T frames (official portrait video editing).

  Args:
    src: per-frame source motion [T] (kp, exp, scale, t, R).
    x_s: [T, K, 3] per-frame source keypoints.
    drv: driving motion, [>= T] frames for a driving video or template, [1] for an image.
    driving_is_video: the driving side has more than one frame.
    lip_array: the neutral-lip constant (image driving with relative motion).
    source_ratios / driving_ratios: per-frame ratios ([T]); driving ratios of an image are
      repeated.

  The driving expression and rotation sequences are Kalman/RTS-smoothed over the whole video
  (variance `driving_smooth_observation_variance`), which is why this runs on full sequences.
  """
  notes = []
  relative, region = options.flag_relative_motion, options.animation_region
  var = options.driving_smooth_observation_variance
  frames, num_kp = src["exp"].shape[0], src["exp"].shape[1]
  f32 = lambda v: np.asarray(v, np.float32)
  s_exp, s_rot, s_kp = f32(src["exp"]), f32(src["R"]), f32(src["kp"])
  s_scale, s_t = f32(src["scale"]), f32(src["t"])
  d_exp, d_rot, d_t = f32(drv["exp"]), f32(drv["R"]), f32(drv["t"])
  if driving_is_video:
    d_exp, d_rot, d_t = d_exp[:frames], d_rot[:frames], d_t[:frames]
  else:  # one driving frame drives every source frame
    d_exp, d_rot, d_t = (np.broadcast_to(a[:1], (frames,) + a.shape[1:]) for a in
                         (d_exp, d_rot, d_t))
  drive_pose = region in ("all", "pose")
  if relative and driving_is_video:
    exp_seq = smooth.kalman_smooth(s_exp + d_exp - d_exp[:1], var)
    rot_seq = (smooth.kalman_smooth(keypoints.relative_rotation(d_rot, d_rot[:1], s_rot), var)
               if drive_pose else s_rot)
  elif relative:
    if lip_array is None:
      raise ValueError("image driving with relative motion needs the neutral lip_array")
    exp_seq = s_exp + (d_exp - np.asarray(lip_array, np.float32))  # not smoothed (official)
    rot_seq = s_rot
  elif driving_is_video:
    exp_seq = smooth.kalman_smooth(d_exp, var)
    rot_seq = smooth.kalman_smooth(d_rot, var) if drive_pose else s_rot
  else:
    exp_seq, rot_seq = d_exp, d_rot
  rot = rot_seq if drive_pose else s_rot
  if region in ("all", "exp"):
    mask = motion.absolute_exp_mask(num_kp)  # not all 21 rows, even with relative motion
  else:
    mask = motion.region_masks(region, True, num_kp)[0]
  exp = np.where(mask, exp_seq, s_exp)
  t = d_t if (drive_pose and not relative) else s_t
  x_d = jnp.asarray(keypoints.transform_keypoint(s_kp, rot, exp, s_scale, t))
  eye_delta_before = source_video_eye_delta(models, x_s, source_ratios, options, notes)
  x_d = stitch_and_retarget(models, x_s, x_d, options, relative=relative,
                            source_ratios=source_ratios, driving_ratios=driving_ratios,
                            notes=notes, eye_delta_before=eye_delta_before)
  return motion.apply_driving_multiplier(x_d, x_s, options.driving_multiplier), notes

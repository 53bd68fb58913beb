# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Animation and crop options with the official CLI names and effective defaults.

The official `ArgumentConfig` overrides some `InferenceConfig` / `CropConfig` defaults (lip
normalisation off, expression-friendly driving, detection threshold 0.15); the values here are the
ones that actually run, so an official command line means the same thing here.
"""

import dataclasses
import math

from lp_jax.errors import InputError
from lp_jax.ops.motion import REGIONS

DRIVING_OPTIONS = ("expression-friendly", "pose-friendly")
AUDIO_PRIORITIES = ("driving", "source")
FACE_BACKENDS = ("jax", "onnxruntime")  # lp_jax.detect.scrfd.BACKENDS, default first
# Where the paste-back runs (LivePortrait frame_ops): auto is the backend's choice.
FRAME_OPS = ("auto", "device", "host")


@dataclasses.dataclass(frozen=True)
class CropOptions:
  """The official source / driving crop arguments (`CropConfig` as `ArgumentConfig` sets it)."""
  det_thresh: float = 0.15  # face detection score threshold
  scale: float = 2.3  # source crop size over the landmarks' extent (larger: smaller face)
  # Horizontal shift of the source crop. The official `crop_image` never forwards it, so it has
  # no effect there; kept identical here.
  vx_ratio: float = 0.0
  vy_ratio: float = -0.125  # vertical shift of the source crop, as a fraction of its size
  flag_do_rot: bool = True  # rotate the source crop upright
  scale_crop_driving_video: float = 2.2  # driving crop size over the landmarks' extent
  # Passed by the official code under a keyword nobody reads: no effect there, nor here.
  vx_ratio_crop_driving_video: float = 0.0
  vy_ratio_crop_driving_video: float = -0.1  # vertical shift of the driving crop
  face_backend: str = FACE_BACKENDS[0]  # the face models as JAX functions, or onnxruntime

  def __post_init__(self):
    if self.face_backend not in FACE_BACKENDS:
      raise InputError(f"--face_backend {self.face_backend!r}: expected one of "
                       f"{', '.join(FACE_BACKENDS)}")
    _finite(self, ("det_thresh", "scale", "vx_ratio", "vy_ratio", "scale_crop_driving_video",
                   "vx_ratio_crop_driving_video", "vy_ratio_crop_driving_video"))
    if not 0.0 <= self.det_thresh <= 1.0:
      raise InputError(f"--det_thresh {self.det_thresh}: expected a score in [0, 1]")
    for name in ("scale", "scale_crop_driving_video"):
      if getattr(self, name) <= 0:
        raise InputError(f"--{name} {getattr(self, name)}: expected a positive scale")


@dataclasses.dataclass(frozen=True)
class AnimationOptions:
  """What to animate and how; field names are the official flags."""
  flag_relative_motion: bool = True  # relative (True) or absolute driving motion
  animation_region: str = "all"  # all / exp / pose / lip / eyes
  flag_stitching: bool = True  # stitching MLP (also required for paste-back)
  flag_eye_retargeting: bool = False  # transfer the driving eye-open ratio
  flag_lip_retargeting: bool = False  # transfer the driving lip-open ratio
  flag_normalize_lip: bool = False  # close the source lips first (relative motion only)
  driving_option: str = "expression-friendly"  # motion-multiplier normalisation (image source)
  driving_multiplier: float = 1.0  # scales x_d - x_s, applied last in every mode
  flag_source_video_eye_retargeting: bool = False  # keep the first frame's eye openness
  driving_smooth_observation_variance: float = 3e-7  # Kalman observation variance (v2v)
  flag_pasteback: bool = True  # paste the result back into the source frame
  flag_do_crop: bool = True  # crop the source to face space
  flag_crop_driving_video: bool = False  # crop driving frames (also when not square)
  source_max_dim: int = 1280  # downscale limit of source frames
  source_division: int = 2  # source dims cropped to multiples of this
  audio_priority: str = "driving"  # which audio to keep: driving / source
  lip_normalize_threshold: float = 0.03  # source lip ratio above which lips are normalised
  source_video_eye_retargeting_threshold: float = 0.18  # below it, the eye target is 0.39

  def __post_init__(self):
    if self.animation_region not in REGIONS:
      raise InputError(f"--animation_region {self.animation_region!r}: expected one of "
                       f"{', '.join(REGIONS)}")
    if self.driving_option not in DRIVING_OPTIONS:
      raise InputError(f"--driving_option {self.driving_option!r}: expected one of "
                       f"{', '.join(DRIVING_OPTIONS)}")
    if self.audio_priority not in AUDIO_PRIORITIES:
      raise InputError(f"--audio_priority {self.audio_priority!r}: expected one of "
                       f"{', '.join(AUDIO_PRIORITIES)}")
    _finite(self, ("driving_multiplier", "driving_smooth_observation_variance",
                   "lip_normalize_threshold", "source_video_eye_retargeting_threshold"))
    if self.driving_smooth_observation_variance <= 0:
      raise InputError(f"--driving_smooth_observation_variance "
                       f"{self.driving_smooth_observation_variance}: must be positive")
    if self.source_max_dim < 2:
      raise InputError(f"--source_max_dim {self.source_max_dim}: must be at least 2")
    if self.source_division < 1:
      raise InputError(f"--source_division {self.source_division}: must be at least 1")


def _finite(options, names) -> None:
  for name in names:
    value = getattr(options, name)
    if not math.isfinite(value):
      raise InputError(f"--{name} {value}: must be a finite number")

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""What the animation paths share: the source image, the animated frame and its concatenation,
the motion keys, the first frame's motion (drv0) and the host paste-back per source frame.

`pipeline` (whole videos) and `stream` (frame iterators) both build on these, so neither needs
the other's module.
"""

import dataclasses

import cv2
import jax
import numpy as np

from lp_jax.inference.faces import SourceFace
from lp_jax.preprocess import paste_back as paste_back_lib

MOTION_KEYS = ("scale", "R", "exp", "t")


@dataclasses.dataclass
class SourceImage:
  """A source image: the (size-limited) RGB frame and its face crop."""
  rgb: np.ndarray
  face: SourceFace


def concat_frame(driving256: np.ndarray | None, source256: np.ndarray,
                 generated: np.ndarray) -> np.ndarray:
  """[driving | source | result], each resized to the result's size (official concat)."""
  h, w = generated.shape[:2]
  cols = [c for c in (driving256, source256) if c is not None]
  cols = [cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in cols]
  return np.concatenate(cols + [generated], axis=1)


@dataclasses.dataclass
class Frame:
  """One animated frame and what produced it."""
  result: np.ndarray  # uint8: pasted back into the source frame, or the 512 crop
  crop: np.ndarray  # uint8 [512, 512, 3], the generated crop
  driving256: np.ndarray | None  # the driving network input (None for a template)
  source256: np.ndarray  # the source network input
  x_s: np.ndarray  # [K, 3] source keypoints
  x_d: np.ndarray  # [K, 3] driving keypoints passed to W

  @property
  def concat(self) -> np.ndarray:
    return concat_frame(self.driving256, self.source256, self.crop)


def first_frame_motion(motion: dict) -> dict:
  """The first frame's rows of a motion dict (drv0), as one program rather than one slice per
  key."""
  return _first_rows(motion)


_first_rows = jax.jit(lambda tree: jax.tree.map(lambda v: v[:1], tree))


def finisher(rgb: np.ndarray, m_c2o, paste_back: bool):
  """Paste-back into `rgb` when on (the mask's warp is per source frame, as upstream)."""
  if not paste_back:
    return lambda frame: frame
  return paste_back_lib.PastedFrame(m_c2o, rgb)

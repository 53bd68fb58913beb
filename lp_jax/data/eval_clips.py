# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A user's folder of videos as self-reenactment clips: face-cropped frames, one clip per file.

Each video is cut to one square around its face (lp_jax.data.face_crop, as the training data
is) and read from its first frame: `num_frames` frames (0: all), every `stride`-th. A file that is not a
readable video, or in which the cascade finds no face, is reported in one line and left out.
"""

import dataclasses
import os
from typing import Iterator

import numpy as np

from lp_jax.data import face_crop
from lp_jax.data import frames as frames_lib
from lp_jax.data import index


@dataclasses.dataclass
class EvalClip:
  name: str  # the path relative to the folder
  frames: np.ndarray | None  # float32 [T, S, S, 3] in [0, 1] (None when skipped)
  skipped: str = ""  # why the clip is left out ('' when it is used)


def list_videos(folder: str) -> list[str]:
  """The videos under `folder` (recursively, sorted)."""
  return [p for p in index.list_media(folder) if p.lower().endswith(index.VIDEO_EXTS)]


def read_clip(path: str, size: int, num_frames: int, stride: int,
              spec: face_crop.CropSpec) -> np.ndarray:
  """Face-cropped frames [T, size, size, 3] float32 in [0, 1] of one video.

  Raises:
    index.DataError: unreadable, too short, or no face (the message names the file).
  """
  n, why = index.probe_video(path)
  if why:
    raise index.DataError(f"{path}: {why}")
  box = face_crop.video_box(path, n, spec)
  if box is None:
    raise index.DataError(f"{path}: no face found by the Haar cascade")
  stride = max(1, stride)
  wanted = range(0, n, stride)
  limit = len(wanted[:num_frames] if num_frames > 0 else wanted)
  frames = frames_lib.decode(path, size, box, limit, stride)
  if len(frames) < 2:
    raise index.DataError(f"{path}: fewer than 2 frames decode (a source and a driving frame)")
  return frames.astype(np.float32) / 255.0


def iter_clips(folder: str, size: int, num_frames: int, stride: int,
               spec: face_crop.CropSpec | None = None) -> Iterator[EvalClip]:
  """An EvalClip per video under `folder`, in name order (skipped ones carry the reason)."""
  spec = spec or face_crop.CropSpec()
  for path in list_videos(folder):
    name = os.path.relpath(path, folder).replace(os.sep, "/")
    try:
      yield EvalClip(name, read_clip(path, size, num_frames, stride, spec))
    except index.DataError as e:
      yield EvalClip(name, None, str(e))

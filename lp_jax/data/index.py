# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The clip index: which clips a source holds, how many frames each has, and which are held out.

Indexing reads metadata only -- a directory walk, OpenCV's container probe for a video's frame
count and size, and an image file's signature -- so the main process decodes no pixels beyond,
with face crops on, the few frames per clip that place its crop (lp_jax.data.face_crop); the
Grain workers decode the rest (lp_jax.data.frames). The walk is sorted, so every host of a multi-host run builds
the same index and the per-process slices of the stream partition it.

A file that cannot be used (an empty or corrupt video, an unreadable image) is skipped with one
warning naming it; if nothing usable remains the error names the folder and the skipped files.
"""

import dataclasses
import fnmatch
import hashlib
import os
from typing import Sequence

from absl import logging
import cv2
import numpy as np

from lp_jax.data import face_crop
from lp_jax.errors import UserError

VIDEO_EXTS = (".mp4", ".avi", ".mov")
IMAGE_EXTS = (".jpg", ".jpeg", ".png")
VIDEO, IMAGE = 0, 1  # `kind` codes: ints travel through Grain cheaply and batch as arrays
KIND_NAMES = {VIDEO: "video", IMAGE: "image"}


class DataError(UserError, ValueError):
  """A data source that cannot be used; the message is one line naming the file or folder."""


@dataclasses.dataclass(frozen=True)
class Clip:
  """One clip: a video (or a piece of one) or a still image (a one-frame clip).

  Attributes:
    name: unique name; the path relative to the source root (plus '#k' for piece k of a long
      video in a TFDS build).
    file: the path relative to the root of the file the clip comes from (held-out rule key).
    kind: VIDEO or IMAGE.
    num_frames: frames in the clip (1 for an image).
    path: absolute path of the file (folder source), or '' (TFDS source).
    start: index of the clip's first record (TFDS source), or 0.
    has_landmarks: whether per-frame 203-point landmarks are stored (TFDS source).
    box: the clip's face crop (x0, y0, side) in file pixels, or None: the centre square
      (folder source with face crops off).
  """
  name: str
  file: str
  kind: int
  num_frames: int
  path: str = ""
  start: int = 0
  has_landmarks: bool = False
  box: tuple | None = None


def probe_video(path: str) -> tuple[int, str]:
  """(frame count, '') from the container header, or (0, reason); decodes nothing."""
  cap = cv2.VideoCapture(path)
  try:
    if not cap.isOpened():
      return 0, "not a readable video"
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if n <= 0:
      return 0, "the container reports no frame count"
    if w <= 0 or h <= 0:
      return 0, "the container reports no frame size"
    return n, ""
  finally:
    cap.release()


def _image_ok(path: str) -> str:
  """'' if the file has a known image signature (reads the header only), else the reason."""
  if os.path.getsize(path) == 0:
    return "empty file"
  if not cv2.haveImageReader(path):
    return "not a readable image"
  return ""


def list_media(root: str, exclude: Sequence[str] = ()) -> list[str]:
  """Video and image files under `root`, recursively, sorted; hidden files and folders, and paths
  (relative to root, '/'-separated) matching an `exclude` glob, are skipped."""
  if not os.path.isdir(root):
    raise DataError(f"{root}: no such folder")
  found = []
  for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    for f in sorted(filenames):
      path = os.path.join(dirpath, f)
      rel = os.path.relpath(path, root).replace(os.sep, "/")
      if (not f.startswith(".") and f.lower().endswith(VIDEO_EXTS + IMAGE_EXTS)
          and not any(fnmatch.fnmatch(rel, pat) for pat in exclude)):
        found.append(path)
  return found


def _face_box(path: str, kind: int, num_frames: int, spec: face_crop.CropSpec):
  """(box, '') of a file's face crop, or (None, reason)."""
  if kind == VIDEO:
    box = face_crop.video_box(path, num_frames, spec)
  else:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    box = None if img is None else face_crop.frames_box([img], spec)
  if box is None:
    return None, "no face found by the Haar cascade"
  return tuple(float(v) for v in np.round(box, 3)), ""


def index_folder(root: str, exclude: Sequence[str] = (),
                 crop_spec: face_crop.CropSpec | None = None) -> list[Clip]:
  """One Clip per usable video or image under `root` (see the module docstring for bad files).

  Args:
    root: the folder, searched recursively.
    exclude: glob patterns of paths relative to root to leave out (e.g. 'masks/*').
    crop_spec: crop every clip around its face (a file without one is skipped with a warning);
      None: centre squares.

  Raises:
    DataError: the folder is missing or holds no video/image, or none of them is usable.
  """
  root = os.path.abspath(root)
  files = list_media(root, exclude)
  if not files:
    raise DataError(f"{root}: no videos ({'/'.join(VIDEO_EXTS)}) or images "
                    f"({'/'.join(IMAGE_EXTS)}) found")
  clips, skipped = [], []
  for path in files:
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    if path.lower().endswith(VIDEO_EXTS):
      n, why = probe_video(path)
      kind = VIDEO
    else:
      n, why = 1, _image_ok(path)
      kind = IMAGE
    box = None
    if not why and crop_spec is not None:
      box, why = _face_box(path, kind, n, crop_spec)
    if why:
      logging.warning("%s: skipped (%s)", path, why)
      skipped.append(rel)
      continue
    clips.append(Clip(name=rel, file=rel, kind=kind, num_frames=n, path=path, box=box))
  if not clips:
    raise DataError(f"{root}: none of the {len(files)} video/image files is usable "
                    f"(skipped {', '.join(skipped)})")
  return clips


def _hash_fraction(name: str) -> float:
  """A stable number in [0, 1) from a name (sha1, so it is the same on every host and run)."""
  return int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big") / 2.0**64


def is_held_out(clip: Clip, eval_names: Sequence[str], eval_fraction: float) -> bool:
  """The held-out rule: videos named in eval_names, else videos whose path hash < eval_fraction."""
  if clip.kind != VIDEO:
    return False
  if eval_names:
    return clip.file in set(eval_names)
  return _hash_fraction(clip.file) < eval_fraction


def split_clips(clips: Sequence[Clip], data_config) -> tuple[list[Clip], list[Clip]]:
  """(train, eval) clips under the config's held-out rule."""
  names = tuple(data_config.eval_names or ())
  train, held = [], []
  for c in clips:
    (held if is_held_out(c, names, float(data_config.eval_fraction)) else train).append(c)
  unknown = set(names) - {c.file for c in clips}
  if unknown:
    logging.warning("eval_names not found in the source: %s", ", ".join(sorted(unknown)))
  return train, held

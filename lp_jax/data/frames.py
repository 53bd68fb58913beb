# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Frame readers: decoded "base" frames of a clip, the canvas the augmentation warps from.

Two backends share one interface, `read(clip, indices, sequential=False) -> (frames, landmarks)`
with frames uint8 RGB [k, W, W, 3] and landmarks float32 [k, 203, 2] in base-frame pixels (or
None):

- `FolderFrames` decodes a folder's files with OpenCV. A base frame is the clip's face crop
  (Clip.box, lp_jax.data.face_crop) or, without one, the frame's centre square, resized to
  W = base_scale * image_size (INTER_AREA). A video whose decoded clip fits in
  `clip_cache_bytes` is always decoded whole, front to back, and kept in a per-process LRU cache;
  a longer one is always read by seeking to each wanted frame. Which path a clip takes depends only
  on its size, never on the cache's state, so a resumed iterator (cold cache) reproduces the
  frames of the original exactly even where OpenCV's seek would be inexact.
- `TfdsFrames` reads records of a dataset written by lp_jax.data.tfds_builder: already cropped
  frames with their landmarks, one record per frame, with random access.

Both hold no open files or caches when pickled: Grain sends them to its worker processes, and each
process opens what it needs on first use.
"""

import collections
import os
import threading
from typing import Optional, Sequence

import cv2
import numpy as np

from lp_jax.data import face_crop
from lp_jax.data import index

NUM_LANDMARKS = 203


def centre_square(frame: np.ndarray) -> np.ndarray:
  """The largest centred square of an [H, W, C] frame (no resampling)."""
  h, w = frame.shape[:2]
  side = min(h, w)
  y0, x0 = (h - side) // 2, (w - side) // 2
  return frame[y0:y0 + side, x0:x0 + side]


def to_base(frame_bgr: np.ndarray, size: int, box=None) -> np.ndarray:
  """An OpenCV BGR frame -> RGB square at size x size (area filter: no aliasing): the face crop
  `box` (x0, y0, side), or the centre square."""
  if box is not None:
    return cv2.cvtColor(face_crop.crop(frame_bgr, np.asarray(box), size), cv2.COLOR_BGR2RGB)
  sq = centre_square(frame_bgr)
  interp = cv2.INTER_AREA if sq.shape[0] > size else cv2.INTER_LINEAR
  sq = cv2.resize(sq, (size, size), interpolation=interp)
  return cv2.cvtColor(sq, cv2.COLOR_BGR2RGB)


def decode(path: str, size: int, box=None, limit: Optional[int] = None,
           stride: int = 1) -> np.ndarray:
  """Base frames [k, size, size, 3] of a video, decoded front to back: every `stride`-th frame
  from the first, at most `limit` of them (None: to the end).

  Raises:
    index.DataError: no frame decodes (the message names the file).
  """
  cap = cv2.VideoCapture(path)
  frames = []
  try:
    i = 0
    while cap.isOpened() and (limit is None or len(frames) < limit):
      ok, frame = cap.read()
      if not ok:
        break
      if i % stride == 0:  # only the kept frames pay for the crop and resize
        frames.append(to_base(frame, size, box))
      i += 1
  finally:
    cap.release()
  if not frames:
    raise index.DataError(f"{path}: no frame could be decoded")
  return np.stack(frames)


class _LruCache:
  """A byte-bounded LRU cache of numpy arrays, safe to share between reader threads."""

  def __init__(self, capacity_bytes: int):
    self.capacity = int(capacity_bytes)
    self._items = collections.OrderedDict()
    self._bytes = 0
    self._lock = threading.Lock()

  def get(self, key):
    with self._lock:
      if key in self._items:
        self._items.move_to_end(key)
        return self._items[key]
    return None

  def put(self, key, value: np.ndarray) -> None:
    with self._lock:
      if key in self._items or value.nbytes > self.capacity:
        return
      self._items[key] = value
      self._bytes += value.nbytes
      while self._bytes > self.capacity:
        _, old = self._items.popitem(last=False)
        self._bytes -= old.nbytes


class FolderFrames:
  """Base frames decoded from the files of a folder source."""

  def __init__(self, base_size: int, cache_bytes: int, clip_cache_bytes: int):
    self.base_size = int(base_size)
    self.cache_bytes = int(cache_bytes)
    self.clip_cache_bytes = int(clip_cache_bytes)
    self._cache = None

  def __getstate__(self):
    state = dict(self.__dict__)
    state["_cache"] = None  # each process builds its own
    return state

  def _get_cache(self) -> _LruCache:
    if self._cache is None:
      self._cache = _LruCache(self.cache_bytes)
    return self._cache

  def decodes_whole(self, clip: index.Clip) -> bool:
    """Whether a clip is read by decoding it whole (and caching it) rather than by seeking."""
    return clip.num_frames * self.base_size**2 * 3 <= self.clip_cache_bytes

  def read(self, clip: index.Clip, indices: Sequence[int],
           sequential: bool = False) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Base frames [k, W, W, 3] of `clip` at `indices` (clamped to the frames that decode).

    Args:
      clip: a folder clip.
      indices: frame indices; past the last decodable frame they give the last frame.
      sequential: decode from the start without seeking or caching (eval clips).

    Raises:
      index.DataError: the file cannot be decoded (message names it).
    """
    if clip.kind == index.IMAGE:
      frames = self._image(clip)
    elif sequential:
      frames = decode(clip.path, self.base_size, clip.box, max(indices) + 1)
    elif self.decodes_whole(clip):
      cache = self._get_cache()
      frames = cache.get(clip.path)
      if frames is None:
        frames = decode(clip.path, self.base_size, clip.box)
        cache.put(clip.path, frames)
    else:
      return self._seek(clip.path, indices, clip.box), None
    idx = np.minimum(np.asarray(indices), len(frames) - 1)
    return frames[idx], None

  def _image(self, clip: index.Clip) -> np.ndarray:
    cache = self._get_cache()
    frames = cache.get(clip.path)
    if frames is None:
      img = cv2.imread(clip.path, cv2.IMREAD_COLOR)
      if img is None:
        raise index.DataError(f"{clip.path}: not a readable image")
      frames = to_base(img, self.base_size, clip.box)[None]
      cache.put(clip.path, frames)
    return frames

  def _seek(self, path: str, indices: Sequence[int], box=None) -> np.ndarray:
    """Frames at `indices` by seeking; a frame the seek cannot reach is read front to back."""
    cap = cv2.VideoCapture(path)
    out = {}
    try:
      for i in sorted(set(int(i) for i in indices)):
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, frame = cap.read()
        if ok:
          out[i] = to_base(frame, self.base_size, box)
    finally:
      cap.release()
    missing = [i for i in indices if int(i) not in out]
    if missing:  # the container over-reported its length: fall back to the last real frame
      tail = decode(path, self.base_size, box, max(missing) + 1)
      for i in missing:
        out[int(i)] = tail[min(int(i), len(tail) - 1)]
    return np.stack([out[int(i)] for i in indices])


class TfdsFrames:
  """Base frames and landmarks from an `lp_clips` TFDS dataset (one record per frame)."""

  def __init__(self, dataset_dir: str, base_size: int):
    self.dataset_dir = dataset_dir
    self.base_size = int(base_size)
    self._source = None

  def __getstate__(self):
    state = dict(self.__dict__)
    state["_source"] = None  # opened again in each worker process
    return state

  def _get_source(self):
    if self._source is None:
      import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
      self._source = tfds.builder_from_directory(self.dataset_dir).as_data_source(split="train")
    return self._source

  def read(self, clip: index.Clip, indices: Sequence[int],
           sequential: bool = False) -> tuple[np.ndarray, Optional[np.ndarray]]:
    del sequential  # every record is random access
    source = self._get_source()
    frames, lmks = [], []
    for i in indices:
      i = min(max(int(i), 0), clip.num_frames - 1)
      try:
        rec = source[clip.start + i]
      except Exception as e:  # pylint: disable=broad-except
        raise index.DataError(
            f"{os.path.join(self.dataset_dir, clip.name)}: record {clip.start + i} unreadable "
            f"({type(e).__name__}: {e})") from e
      frames.append(rec["image"])
      lmks.append(rec["landmarks"])
    lmk = np.stack(lmks).astype(np.float32) if clip.has_landmarks else None
    return np.stack(frames), lmk

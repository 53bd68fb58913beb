# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Images and videos: classification, reading, streaming decode / encode, audio muxing.

Videos go through the ffmpeg binary that imageio-ffmpeg ships (the official pipeline also
decodes with imageio's ffmpeg and writes H.264 with crf 18). Reading and writing run on
background threads with bounded queues, so decoding, inference and encoding overlap and a
video of any length streams through constant memory. Outputs are written under a temporary
name and renamed only when complete: a failure never leaves a half-written file.
"""

import dataclasses
import os
import queue
import subprocess
import threading

import cv2
import imageio_ffmpeg
import numpy as np

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".mov", ".avi", ".webm")
TEMPLATE_EXTS = (".pkl", ".npz")


class MediaError(ValueError):
  """A bad input or output file; the message is one line naming the file."""


def classify(path: str) -> str:
  """'image', 'video' or 'template' by extension (official rule), for an existing path."""
  if not os.path.exists(path):
    raise MediaError(f"{path}: no such file")
  ext = os.path.splitext(path)[1].lower()
  if ext in IMAGE_EXTS:
    return "image"
  if ext in VIDEO_EXTS:
    return "video"
  if ext in TEMPLATE_EXTS:
    return "template"
  raise MediaError(f"{path}: unknown input type {ext or '(no extension)'} (expected an image "
                   f"{'/'.join(IMAGE_EXTS)}, a video {'/'.join(VIDEO_EXTS)} or a template "
                   f"{'/'.join(TEMPLATE_EXTS)})")


def read_image(path: str) -> np.ndarray:
  """uint8 RGB [H, W, 3] (alpha dropped), like the official cv2.imread + BGR->RGB."""
  if not os.path.isfile(path):
    raise MediaError(f"{path}: no such file")
  img = cv2.imread(path, cv2.IMREAD_COLOR)
  if img is None:
    raise MediaError(f"{path}: not a readable image")
  return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def resize_to_limit(img: np.ndarray, max_dim: int = 1280, division: int = 2) -> np.ndarray:
  """Official resize_to_limit: shrink so the long side <= max_dim (INTER_LINEAR), then crop the
  bottom / right so both sides are multiples of `division`."""
  h, w = img.shape[:2]
  if max_dim > 0 and max(h, w) > max_dim:
    if h > w:
      new_h, new_w = max_dim, int(w * max_dim / h)
    else:
      new_h, new_w = int(h * max_dim / w), max_dim
    img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    h, w = new_h, new_w
  if division > 1:
    img = img[: h - h % division, : w - w % division]
  return img


@dataclasses.dataclass
class VideoInfo:
  fps: float  # as reported by the container
  width: int
  height: int
  has_audio: bool

  @property
  def fps_int(self) -> int:
    """The official output fps: int() truncation (29.97 -> 29), 25 when unknown."""
    return int(self.fps) if self.fps and self.fps > 0 else 25

  @property
  def is_square(self) -> bool:
    return self.width == self.height


def probe_video(path: str) -> VideoInfo:
  """Stream facts of a video; MediaError for a missing or non-video file."""
  if not os.path.isfile(path):
    raise MediaError(f"{path}: no such file")
  gen = imageio_ffmpeg.read_frames(path)
  try:
    meta = next(gen)
  except (RuntimeError, OSError, StopIteration) as e:
    raise MediaError(f"{path}: not a readable video ({_first_line(e)})") from None
  finally:
    gen.close()
  w, h = meta.get("size", (0, 0))
  if not w or not h:
    raise MediaError(f"{path}: no video stream")
  return VideoInfo(float(meta.get("fps") or 0.0), int(w), int(h), "audio_codec" in meta)


def _first_line(err: BaseException) -> str:
  text = str(err).strip().splitlines()
  return text[-1][:200] if text else type(err).__name__


class VideoReader:
  """Iterates uint8 RGB frames decoded on a background thread (bounded queue)."""

  _END = object()

  def __init__(self, path: str, max_frames: int | None = None, buffer: int = 16):
    self.path = path
    self.info = probe_video(path)
    self.max_frames = max_frames
    self._queue: queue.Queue = queue.Queue(maxsize=buffer)
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._decode, daemon=True)
    self._thread.start()

  def _put(self, item) -> bool:
    while not self._stop.is_set():
      try:
        self._queue.put(item, timeout=0.1)
        return True
      except queue.Full:
        continue
    return False

  def _decode(self):
    gen = imageio_ffmpeg.read_frames(self.path)
    try:
      meta = next(gen)
      w, h = meta["size"]
      count = 0
      for raw in gen:
        if self.max_frames is not None and count >= self.max_frames:
          break
        frame = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
        if not self._put(frame):
          return
        count += 1
      self._put(VideoReader._END if count else
                MediaError(f"{self.path}: the video has no frames"))
    except Exception as e:  # pylint: disable=broad-except
      self._put(MediaError(f"{self.path}: decoding failed ({_first_line(e)})"))
    finally:
      gen.close()

  def __iter__(self):
    while True:
      item = self._queue.get()
      if item is VideoReader._END:
        return
      if isinstance(item, Exception):
        raise item
      yield item

  def close(self):
    self._stop.set()
    self._thread.join(timeout=10)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def has_audio(path: str | None) -> bool:
  if not path or classify(path) != "video":
    return False
  return probe_video(path).has_audio


class VideoWriter:
  """H.264 (yuv420p, crf 18) mp4 encoder fed from a background thread.

  Frames go to `<name>.partial-<pid>.mp4`; `close()` waits for the encoder, muxes audio from
  `audio_from` when given (`-map 0:v -map 1:a -c:v copy -shortest`, as the official code does)
  and renames. `abort()` (or leaving the `with` block on an exception) deletes the temp files.
  """

  _END = object()

  def __init__(self, path: str, fps: float, audio_from: str | None = None, buffer: int = 16):
    self.path = os.path.abspath(path)
    self.fps = fps
    self.audio_from = audio_from
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    stem, ext = os.path.splitext(self.path)
    self.tmp = f"{stem}.partial-{os.getpid()}{ext}"
    self._queue: queue.Queue = queue.Queue(maxsize=buffer)
    self._thread = None
    self._error: BaseException | None = None
    self.frames = 0

  def _encode(self, size):
    gen = imageio_ffmpeg.write_frames(
        self.tmp, size, fps=self.fps, codec="libx264", quality=None, macro_block_size=2,
        output_params=["-crf", "18"], ffmpeg_log_level="error")
    try:
      gen.send(None)
      while True:
        frame = self._queue.get()
        if frame is VideoWriter._END:
          break
        gen.send(np.ascontiguousarray(frame))
    except Exception as e:  # pylint: disable=broad-except
      self._error = e
      while self._queue.get() is not VideoWriter._END:  # drain so the producer never blocks
        pass
    finally:
      gen.close()

  def write(self, frame: np.ndarray) -> None:
    """Queues one uint8 RGB [H, W, 3] frame (H and W even)."""
    if self._error is not None:
      raise MediaError(f"{self.path}: encoding failed ({_first_line(self._error)})")
    if self._thread is None:
      h, w = frame.shape[:2]
      self._thread = threading.Thread(target=self._encode, args=((w, h),), daemon=True)
      self._thread.start()
    self._queue.put(frame)
    self.frames += 1

  def close(self) -> str:
    """Finishes the file and returns its final path."""
    if self._thread is None:
      raise MediaError(f"{self.path}: no frames to write")
    self._queue.put(VideoWriter._END)
    self._thread.join()
    if self._error is not None:
      self.abort()
      raise MediaError(f"{self.path}: encoding failed ({_first_line(self._error)})")
    if self.audio_from:
      muxed = f"{os.path.splitext(self.tmp)[0]}.audio.mp4"
      cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", self.tmp, "-i",
             self.audio_from, "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-shortest", muxed]
      proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
      if proc.returncode != 0:
        self.abort()
        _remove(muxed)
        raise MediaError(f"{self.path}: adding audio from {self.audio_from} failed "
                         f"({(proc.stderr.strip().splitlines() or ['?'])[-1][:200]})")
      os.replace(muxed, self.tmp)
    os.replace(self.tmp, self.path)
    return self.path

  def abort(self) -> None:
    if self._thread is not None and self._thread.is_alive():
      self._queue.put(VideoWriter._END)
      self._thread.join()
    _remove(self.tmp)

  def __enter__(self):
    return self

  def __exit__(self, exc_type, *exc):
    if exc_type is not None:
      self.abort()


def _remove(path: str) -> None:
  try:
    os.remove(path)
  except FileNotFoundError:
    pass


def write_image(path: str, rgb: np.ndarray) -> str:
  """Writes an RGB image atomically (temp name, then rename); format from the extension."""
  path = os.path.abspath(path)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  stem, ext = os.path.splitext(path)
  tmp = f"{stem}.partial-{os.getpid()}{ext}"
  if not cv2.imwrite(tmp, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
    _remove(tmp)
    raise MediaError(f"{path}: could not write the image")
  os.replace(tmp, path)
  return path


def choose_audio_source(driving: str | None, source: str | None, priority: str) -> str | None:
  """The official rule: driving audio if present and preferred (or the source has none),
  else the source's, else none."""
  drv, src = has_audio(driving), has_audio(source)
  if drv and (priority == "driving" or not src):
    return driving
  return source if src else None

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Streaming decode: a video's frames (or a folder's images) read on a background thread.

The frames are bit-identical to the official reader's (imageio: rgb24 rawvideo over image2pipe).
"""

import os
import queue
import subprocess
import tempfile
import threading
from typing import Iterator, Optional

import numpy as np

from lp_jax.io import ffmpeg, images, probe
from lp_jax.io.errors import MediaError, one_line

_END = object()  # queue sentinel: the stream is over
_QUEUE_POLL_S = 0.1  # how often a blocked queue operation re-checks for a stop request


class VideoReader:
  """Iterates over a video's frames (uint8 RGB [H, W, 3]) decoded on a background thread.

  The decoder runs ahead of the consumer by at most `buffer` frames (a bounded queue), so
  decoding overlaps with compute and memory does not grow with the video's length. Decoder
  failures reach the consumer as `MediaError` at the point in the stream where they happened.
  Use it as a context manager, or call `close()`, when stopping early: that ends the decoder.

    with VideoReader("d0.mp4", max_frames=10) as reader:
      for frame in reader:
        ...

  Attributes:
    path: the video (or folder of frames).
    info: its `VideoInfo`.
    start: index of the first frame produced; the frames before it are decoded and dropped
      (the frames of a clip cut at `start` without re-encoding, bit-identical to them).
    max_frames: at most this many frames are produced from `start` on (None: all).
    buffer: the queue bound.
    frames_decoded: frames the decoder has produced so far, from `start` on (producer side).
    frames_read: frames handed to the consumer so far.
    peak_queued: the largest number of frames that have waited in the queue at once.
  """

  def __init__(self, path: str, max_frames: Optional[int] = None, buffer: int = 8,
               info: Optional[probe.VideoInfo] = None, start: int = 0):
    if max_frames is not None and max_frames < 1:
      raise ValueError(f"max_frames must be positive, got {max_frames}")
    if start < 0:
      raise ValueError(f"start must be >= 0, got {start}")
    if buffer < 1:
      raise ValueError(f"buffer must be positive, got {buffer}")
    self.path = path
    self.info = info if info is not None else probe.probe_video(path)
    self.max_frames = max_frames
    self.start = start
    self.buffer = buffer
    self.frames_decoded = 0
    self.frames_read = 0
    self.peak_queued = 0
    self._queue: queue.Queue = queue.Queue(maxsize=buffer)
    self._stop = threading.Event()
    self._proc: Optional[subprocess.Popen] = None
    self._finished = False
    self._thread = threading.Thread(target=self._produce, daemon=True,
                                    name=f"VideoReader({os.path.basename(path)})")
    self._thread.start()

  # -- producer (background thread)

  def _put(self, item) -> bool:
    """Queues `item` unless a stop is requested while the queue is full; False if stopped."""
    while not self._stop.is_set():
      try:
        self._queue.put(item, timeout=_QUEUE_POLL_S)
      except queue.Full:
        continue
      self.peak_queued = max(self.peak_queued, self._queue.qsize())
      return True
    return False

  def _produce(self) -> None:
    frames = self._folder_frames() if os.path.isdir(self.path) else self._decoded_frames()
    try:
      try:
        for index, frame in enumerate(frames):
          if index < self.start:
            continue
          self.frames_decoded += 1
          if not self._put(frame):
            return
          if self.max_frames is not None and self.frames_decoded >= self.max_frames:
            break
      finally:
        frames.close()  # ends the decoder now, not whenever the generator is collected
      if self.frames_decoded == 0 and not self._stop.is_set():
        if self.start:
          raise MediaError(f"{self.path}: the video has no frames from frame {self.start} on")
        raise MediaError(f"{self.path}: the video has no frames")
      self._put(_END)
    except MediaError as e:
      self._put(e)
    except Exception as e:  # pylint: disable=broad-except
      # Whatever broke, the consumer must hear about it rather than wait forever.
      why = one_line(str(e)) if str(e).strip() else type(e).__name__
      self._put(MediaError(f"{self.path}: decoding failed ({why})"))

  def _folder_frames(self) -> Iterator[np.ndarray]:
    for file in probe.frame_files(self.path):
      if self._stop.is_set():
        return
      frame = images.read_image(file)
      if frame.shape[:2] != (self.info.height, self.info.width):
        raise MediaError(f"{file}: frame is {frame.shape[1]}x{frame.shape[0]}, the other "
                         f"frames of the folder are {self.info.width}x{self.info.height}")
      yield frame

  def _decoded_frames(self) -> Iterator[np.ndarray]:
    # The official reader's output arguments (imageio: rgb24 rawvideo over image2pipe), so the
    # frames are bit-identical to upstream's; -frames:v lets ffmpeg stop by itself.
    cmd = [ffmpeg.ffmpeg_exe(), "-nostdin", "-v", "error", "-i", self.path, "-map", "0:V:0"]
    if self.max_frames is not None:
      cmd += ["-frames:v", str(self.start + self.max_frames)]
    cmd += ["-pix_fmt", "rgb24", "-vcodec", "rawvideo", "-f", "image2pipe", "-"]
    w, h = self.info.width, self.info.height
    nbytes = w * h * 3
    # stderr goes to a file: a pipe nobody drains could fill up and stall ffmpeg.
    with tempfile.TemporaryFile() as log:
      # Unbuffered stdout: readinto() then fills the frame's own memory, with no extra copy.
      # A new session keeps a Ctrl-C in the terminal from reaching ffmpeg: we stop it ourselves.
      proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                              bufsize=0, start_new_session=True)
      self._proc = proc
      if self._stop.is_set():  # close() may have run before _proc was visible to it
        proc.kill()
      produced = 0  # frames out of ffmpeg, the dropped ones before `start` included
      try:
        while not self._stop.is_set():
          frame = np.empty((h, w, 3), np.uint8)
          view = memoryview(frame).cast("B")
          got = 0
          while got < nbytes:
            n = proc.stdout.readinto(view[got:])
            if not n:
              break
            got += n
          if got == 0:
            break
          if got < nbytes:
            if self._stop.is_set():
              return
            rc = proc.wait()
            log.seek(0)
            text = log.read().decode("utf-8", "replace").strip()
            why = one_line(text) if text else ffmpeg.exit_reason(rc)
            raise MediaError(f"{self.path}: the stream ended inside frame "
                             f"{produced + 1} ({why})")
          produced += 1
          yield frame
        if self._stop.is_set():
          return
        rc = proc.wait()
        if rc != 0:
          log.seek(0)
          text = log.read().decode("utf-8", "replace").strip()
          why = one_line(text) if text else ffmpeg.exit_reason(rc)
          raise MediaError(f"{self.path}: decoding failed after frame {produced} "
                           f"({why})")
      finally:
        if proc.poll() is None:
          proc.kill()
        proc.wait()
        proc.stdout.close()

  # -- consumer

  def __iter__(self) -> "VideoReader":
    return self

  def __next__(self) -> np.ndarray:
    if self._finished:
      raise StopIteration
    while True:
      try:
        item = self._queue.get(timeout=_QUEUE_POLL_S)
        break
      except queue.Empty:
        # The producer always queues an end or an error before it exits; this guards against
        # it dying some other way, which would otherwise leave the consumer waiting forever.
        if not self._thread.is_alive() and self._queue.empty():
          self._finished = True
          raise MediaError(f"{self.path}: the decoder stopped unexpectedly") from None
    if item is _END:
      self._finished = True
      self.close()
      raise StopIteration
    if isinstance(item, BaseException):
      self._finished = True
      self.close()
      raise item
    self.frames_read += 1
    return item

  def close(self) -> None:
    """Stops the decoder and frees queued frames. Safe to call more than once."""
    self._finished = True
    self._stop.set()
    proc = self._proc
    if proc is not None and proc.poll() is None:
      proc.kill()
    self._thread.join(timeout=30)
    # Drop whatever the producer queued: the frames may be large.
    while True:
      try:
        self._queue.get_nowait()
      except queue.Empty:
        break

  def __enter__(self) -> "VideoReader":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

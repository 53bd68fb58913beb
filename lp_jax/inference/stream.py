# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Real-time animation: an image source driven by a stream of frames (a camera, a clip).

`LivePortrait.stream(source, frames)`, which is `stream(pipe, source, frames)` here (`pipe` a
`pipeline.LivePortrait`, whose module imports this one), takes any iterator of RGB uint8 driving
frames, possibly endless and arriving in real time, and yields each animated frame as soon as
it is made. A video file is prepared in two passes (a landmark track first, then the frames); a
camera cannot be read twice, so everything here is decided from the frames seen so far:

  * the source is encoded once (F, M);
  * the driving crop box is fixed from the first frame with a face (the official driving box of
    that one frame; a video averages the boxes of all its frames); without face models a square
    frame is resized to 256 and a non-square one cut to its centre square first;
  * motion is relative to the first animated driving frame (drv0), exactly as
    `LivePortrait.animate` does for a video, so a clip's frames streamed give that clip's frames.

Latency stays bounded and memory flat: with `max_batch=1` (the default) a frame is taken from
the iterator only when the previous one has been yielded; with `max_batch > 1` a reader thread
fills a small bounded queue (dropping nothing: it stops reading while the queue is full) and
every W+G call takes the frames already waiting, up to `max_batch` (padded: one compile).

`Animator` holds the same state for frames pushed one call at a time (the webcam tab).
"""

import dataclasses
import logging
import os
import queue
import threading
import time
import weakref
from typing import Iterable, Iterator

import jax.numpy as jnp
import numpy as np

from lp_jax.inference import driving_keypoints
from lp_jax.inference import prefetch
from lp_jax.inference.decoder import FrameDecoder
from lp_jax.inference.faces import FaceStage, Track, crop_driving
from lp_jax.inference.options import AnimationOptions
from lp_jax.inference.frames import (MOTION_KEYS, Frame, SourceImage, finisher,
                                     first_frame_motion)
from lp_jax.io.errors import MediaError
from lp_jax.ops import batching
from lp_jax.preprocess import crop as crop_lib
from lp_jax.preprocess import ratios as ratios_lib

logger = logging.getLogger(__name__)

STREAM_NAME = "driving stream"  # how errors and notes name an unnamed stream
READER_THREAD = "lp_jax-stream-reader"
_POLL_S = 0.05  # how often a reader blocked on a full queue checks whether the stream closed
_JOIN_S = 5.0  # how long closing waits for a reader blocked inside the input iterator


@dataclasses.dataclass
class StreamFrame(Frame):
  """An animated frame of a stream, with where it came from and when."""
  index: int  # the driving frame's position in the input stream (skipped frames count)
  taken: float  # time.perf_counter() when the driving frame was taken from the iterator
  latency_s: float = 0.0  # from `taken` until this frame was yielded (or returned)


def check_frame(frame, name: str, index: int) -> np.ndarray:
  """`frame` if it is a uint8 RGB [H, W, 3] array, else a one-line MediaError."""
  if not isinstance(frame, np.ndarray):
    raise MediaError(f"{name}: frame #{index} is a {type(frame).__name__}, expected a uint8 "
                     "RGB array [H, W, 3]")
  if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or min(
      frame.shape[:2]) < 2:
    raise MediaError(f"{name}: frame #{index} is {frame.dtype} {list(frame.shape)}, expected "
                     "uint8 RGB [H, W, 3]")
  return frame


def centre_square(frame: np.ndarray) -> np.ndarray:
  """The largest centred square of a frame (itself when square)."""
  h, w = frame.shape[:2]
  side = min(h, w)
  top, left = (h - side) // 2, (w - side) // 2
  return frame[top:top + side, left:left + side]


_DECODERS = weakref.WeakKeyDictionary()  # LivePortrait -> {batch: FrameDecoder}
_DECODERS_LOCK = threading.Lock()


def decoder_for(pipe, batch: int) -> FrameDecoder:
  """A W+G decoder of exactly `batch` frames per call, shared by every stream of `pipe`.

  The pipeline's own decoder when its batch is `batch`; else one on as many of its devices as
  divide `batch` (a 1-frame call on 8 devices would pad to 8 and cost 8 frames). Kept per pipe,
  because a new decoder is a new jitted program: every stream would compile again.
  """
  if pipe.decoder.batch_size == batch:
    return pipe.decoder
  with _DECODERS_LOCK:
    per_pipe = _DECODERS.setdefault(pipe, {})
    if batch not in per_pipe:
      devices = list(pipe.decoder.mesh.devices.flat)
      n = max(d for d in range(1, min(batch, len(devices)) + 1) if batch % d == 0)
      per_pipe[batch] = FrameDecoder(pipe.models, batch, devices[:n])
    return per_pipe[batch]


class Animator:
  """The state of one stream: the encoded source, drv0 and the crop box; frames in, frames out.

  Not thread-safe: one stream, one caller at a time.
  """

  def __init__(self, pipe, source: SourceImage,
               options: AnimationOptions = AnimationOptions(), *, faces: FaceStage | None = None,
               paste_back: bool = False, batch: int = 1, name: str = STREAM_NAME):
    """`batch`: frames per network call (fixed shape); `name`: the stream in errors and notes."""
    if not isinstance(source, SourceImage):
      raise MediaError(f"{getattr(source, 'path', name)}: a stream animates a source image, "
                       f"not a {type(source).__name__}")
    if batch < 1:
      raise ValueError(f"batch must be positive, got {batch}")
    self.pipe, self.source, self.options, self.name = pipe, source, options, name
    self.faces = faces if faces is not None and faces.available else None
    self.batch = batch
    self.notes = []
    self.decoder = decoder_for(pipe, batch)
    face = source.face
    self.encoded = pipe.encode_source(face.crop256)
    self._x_s = np.asarray(self.encoded.x_s)[0]
    if paste_back and face.m_c2o is None:
      self._note("paste-back is off: the source was not cropped, so there is nothing to paste "
                 "into")
      paste_back = False
    # The paste-back where the pipeline's frame ops run: in the W+G program, or OpenCV.
    self._device_paste = (self.decoder.paste_into(source.rgb, face.m_c2o)
                          if paste_back and pipe.frame_ops_on_device else None)
    self._finish = finisher(source.rgb, face.m_c2o, paste_back and self._device_paste is None)
    # Driving ratios cost a landmark pass per frame; only retargeting reads them.
    self._ratios = (self.faces is not None and
                    (options.flag_eye_retargeting or options.flag_lip_retargeting))
    self.drv0 = None  # motion of the first animated frame: every later frame is relative to it
    self.box = None  # the driving crop box, fixed from the first frame with a face
    self._lmk = None  # the latest tracked [203, 2] landmarks (frame pixels)
    self.skipped = 0  # frames dropped before the first face (the official tracker's rule)

  def _note(self, note: str) -> None:
    if note not in self.notes:
      self.notes.append(note)
      logger.info("note: %s", note)

  def reset(self) -> None:
    """The next frame becomes the new reference (drv0) and fixes a new crop box."""
    self.drv0 = None
    self.recrop()

  def recrop(self) -> None:
    """The next frame with a face fixes a new crop box (drv0 is kept)."""
    self.box = self._lmk = None

  # -- frames -> network inputs ------------------------------------------------------------

  def _track(self, frame: np.ndarray) -> np.ndarray | None:
    """The frame's [203, 2] landmarks: detected until a face is found, then followed."""
    models = self.faces.models
    self._lmk = (self.faces.image_landmarks(frame) if self._lmk is None
                 else np.asarray(models.landmark_203(frame, self._lmk), np.float32))
    return self._lmk

  def crop(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(uint8 256 crop, [203, 2] landmarks in it or None), or None before the first face."""
    h, w = frame.shape[:2]
    if self.options.flag_crop_driving_video or h != w:
      if self.faces is not None:
        if self.box is None:
          lmk = self._track(frame)
          if lmk is None:
            self.skipped += 1
            self._note(f"{self.name}: frames before the first face are skipped (no crop box "
                       "yet)")
            return None
          self.box = self.faces.driving_crop_box(Track([lmk], []), self.name)
          self._note(f"{self.name}: the driving crop box is fixed from the first frame with a "
                     "face (a video file averages the boxes of all its frames)")
        elif self._ratios:
          self._track(frame)
        lmk = crop_lib.bbox_landmarks(self._lmk, self.box) if self._ratios else None
        return crop_driving(frame, self.box), lmk
      if h != w:
        self._note(f"{self.name}: {w}x{h} frames are not square and there are no face models "
                   "to crop them: their centre square is used")
      else:
        self._note(f"{self.name}: cropping the driving frames needs the face models; they are "
                   "resized whole")
      frame = centre_square(frame)
    lmk = self._track(frame) if self._ratios else None
    return crop_lib.resize_linear(frame), lmk

  # -- animation ----------------------------------------------------------------------------

  def animate(self, frames: list[np.ndarray], taken: list[float] | None = None,
              first_index: int = 0) -> list[StreamFrame]:
    """The animated frames of up to `batch` driving frames (fewer when some come before the
    first face). `taken`: when each frame was taken (default now); `first_index`: the stream
    position of frames[0]."""
    if len(frames) > self.batch:
      raise ValueError(f"{len(frames)} frames do not fit a batch of {self.batch}")
    now = time.perf_counter()
    taken = [now] * len(frames) if taken is None else list(taken)
    kept = []
    for i, frame in enumerate(frames):
      cropped = self.crop(check_frame(frame, self.name, first_index + i))
      if cropped is not None:
        kept.append((first_index + i, taken[i]) + cropped)
    if not kept:
      return []
    n = len(kept)
    crops = np.stack([k[2] for k in kept])
    padded, _ = batching.pad_to_batch(crops, self.batch)  # one shape: M compiles once
    info, _ = self.pipe.models.crop_motion(padded)
    motion = {k: jnp.asarray(info[k], jnp.float32) for k in MOTION_KEYS}
    if self.drv0 is None:
      self.drv0 = first_frame_motion(motion)
    lmks = [k[3] for k in kept]
    ratios = None
    if all(l is not None for l in lmks):
      ratios = ratios_lib.of_landmarks(batching.pad_to_batch(np.stack(lmks), self.batch)[0])
    x_d = np.asarray(self._keypoints(motion, ratios))[:n]
    pending = self.decoder.dispatch(self.encoded.feature_3d, self.encoded.x_s, x_d,
                                    self._device_paste)
    out = pending.fetch()
    results = (pending.fetch_pasted() if self._device_paste is not None
               else [self._finish(frame) for frame in out])
    return [StreamFrame(result, frame, k[2], self.encoded.crop256, self._x_s, x_d[i],
                        index=k[0], taken=k[1])
            for i, (k, frame, result) in enumerate(zip(kept, out, results))]

  def _keypoints(self, motion: dict, ratios) -> jnp.ndarray:
    """x_d of a driving video's frames relative to drv0 (the expression-friendly multiplier of
    (x_s, x_d0) is remembered by `motion.motion_multiplier`, so it costs one hull pair)."""
    enc = self.encoded
    x_d, notes = driving_keypoints.image_source_keypoints(
        self.pipe.models, enc.info, enc.x_s, motion, self.options, driving_is_video=True,
        lip_array=self.pipe.lip_array, source_ratios=self.source.face.ratios,
        driving_ratios=ratios, drv0=self.drv0)
    for note in notes:
      self._note(note)
    return x_d


class Stream:
  """The animated frames of a driving stream (an iterator, consumed once); `notes` fills as it
  runs. Closing it (or leaving a `with` block) stops the reader thread; the input iterator is
  not closed (its owner does that)."""

  def __init__(self, animator: Animator, frames: Iterable[np.ndarray], max_batch: int,
               queue_size: int):
    self.animator = animator
    self.notes = animator.notes
    self._gen = (self._one_by_one(frames) if max_batch == 1
                 else self._batched(frames, max_batch, queue_size))

  def __iter__(self) -> "Stream":
    return self

  def __next__(self) -> StreamFrame:
    return next(self._gen)

  def close(self) -> None:
    self._gen.close()

  def __enter__(self) -> "Stream":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def _yielding(self, out: list[StreamFrame]) -> Iterator[StreamFrame]:
    for frame in out:
      frame.latency_s = time.perf_counter() - frame.taken
      yield frame

  def _one_by_one(self, frames) -> Iterator[StreamFrame]:
    """No thread: the next frame is asked for once this one is out (lowest latency)."""
    it = iter(frames)
    index = 0
    while True:
      try:
        frame = next(it)
      except StopIteration:
        return
      taken = time.perf_counter()
      yield from self._yielding(self.animator.animate([frame], [taken], index))
      index += 1

  def _batched(self, frames, max_batch: int, queue_size: int) -> Iterator[StreamFrame]:
    """Frames read ahead by a thread; each call takes what is waiting, up to `max_batch`."""
    items = queue.Queue(queue_size)
    stop = threading.Event()
    reader = threading.Thread(target=_read, args=(frames, items, stop), name=READER_THREAD,
                              daemon=True)
    reader.start()
    try:
      index, done = 0, False
      while not done:
        batch, error = [], None
        item = items.get()
        while True:
          if item is _END:
            done = True
            break
          if isinstance(item, _Failed):
            error, done = item.error, True
            break
          batch.append(item)
          if len(batch) == max_batch:
            break
          try:
            item = items.get_nowait()
          except queue.Empty:
            break
        if batch:
          # A bad frame raises here, after the good frames before it were yielded.
          good = []
          for i, (frame, _) in enumerate(batch):
            try:
              good.append(check_frame(frame, self.animator.name, index + i))
            except MediaError as e:
              error, done = e, True
              batch = batch[:i]
              break
          if batch:
            yield from self._yielding(self.animator.animate(
                good, [t for _, t in batch], index))
          index += len(batch)
        if error is not None:
          raise error
    finally:
      stop.set()
      reader.join(_JOIN_S)  # a reader inside a blocking next() exits when it returns


_END = object()  # the input iterator is exhausted


@dataclasses.dataclass
class _Failed:
  error: BaseException  # what the input iterator raised, re-raised in the consumer


def _read(frames, items: queue.Queue, stop: threading.Event) -> None:
  """Reader thread: (frame, time taken) into `items` until the input ends or `stop` is set;
  a full queue blocks the reader (nothing is dropped), polling `stop`."""

  put = lambda item: prefetch.put_unless_stopped(items, item, stop, _POLL_S)

  try:
    for frame in frames:
      if not put((frame, time.perf_counter())) or stop.is_set():
        return
    put(_END)
  except BaseException as e:  # pylint: disable=broad-except  (handed to the consumer)
    put(_Failed(e))


def stream(pipe, source: SourceImage, frames: Iterable[np.ndarray],
           options: AnimationOptions = AnimationOptions(), *, faces: FaceStage | None = None,
           paste_back: bool = False, max_batch: int = 1, queue_size: int | None = None,
           name: str = STREAM_NAME) -> Stream:
  """The animation of `source` by a stream of driving frames, yielded as each is ready.

  Args:
    pipe: the `LivePortrait` pipeline (its networks; its decoder when its batch is
      `max_batch`).
    source: the source image and its face crop (encoded once, here).
    frames: uint8 RGB [H, W, 3] driving frames; any iterable, possibly endless. It may raise or
      end at any point: the error reaches the consumer after the frames before it.
    options: the animation options (video-driving semantics: relative to the first frame).
    faces: the face models: a non-square frame (or every frame, with
      `options.flag_crop_driving_video`) is cropped with the driving box of the first frame with
      a face, and retargeting gets per-frame landmarks; None or unavailable: centre squares.
    paste_back: results pasted back into the source image (needs a cropped source).
    max_batch: 1: one frame per call, read only when the previous one is out; more: frames
      already waiting are grouped (read ahead by a thread) into calls of this fixed size.
    queue_size: frames the reader may hold ahead (default `max_batch`: one batch waits while
      one is animated, so batches stay full and latency stays at about two batch times).
    name: the stream in error messages and notes (a camera, a file).

  Returns:
    A `Stream` of `StreamFrame`s (`latency_s`: from the frame leaving the iterator to its result
    being yielded). Bad frames raise a one-line MediaError.
  """
  if max_batch < 1:
    raise ValueError(f"max_batch must be positive, got {max_batch}")
  animator = Animator(pipe, source, options, faces=faces, paste_back=paste_back,
                      batch=max_batch, name=os.fspath(name))
  return Stream(animator, frames, max_batch, queue_size or max_batch)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Images and videos: classification, reading, streaming decode / encode, audio muxing.

Everything video-related runs the ffmpeg binary that imageio-ffmpeg ships, with the arguments the
official code ends up using (imageio's ffmpeg reader / writer: rgb24 rawvideo in and out, H.264
yuv420p at crf 18; audio muxed with `-map 0:v -map 1:a -c:v copy`), so frames and files match the
official pipeline's; audio shorter than the video is padded with silence where the official
`-shortest` would drop the last frames. Decoding and encoding run on background threads behind
bounded queues: they overlap with inference, and a video of any length streams through constant
memory. Outputs are written under a temporary name in the destination folder and renamed only once
complete, so a failure or an interrupt never leaves a half-written result behind.

Every problem with a file is reported as a `MediaError` whose message is one line that starts with
the file's path.
"""

import dataclasses
import fractions
import os
import queue
import re
import subprocess
import tempfile
import threading
from typing import Iterator, Optional

import cv2
import imageio_ffmpeg
import numpy as np

# The official helper.py rules (is_image / is_video / is_template), compared case-insensitively.
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".mov", ".avi", ".webm")
# Official templates are pickles; ours are .npz archives (lp_jax.templates reads both).
TEMPLATE_EXTS = (".pkl", ".npz")
# cv2.imwrite picks the encoder from the extension; .gif has no OpenCV encoder.
_WRITABLE_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tiff", ".webp")

DEFAULT_FPS = 25  # the official fallback when a video reports no frame rate
DEFAULT_CRF = 18  # official images2video passes -crf 18 (InferenceConfig.crf = 15 is unused)
GIF_FILTER = "fps=30,scale=256:-1:flags=lanczos"  # the official animal-pipeline GIF recipe

_QUEUE_POLL_S = 0.1  # how often a blocked queue operation re-checks for a stop request
_PROBE_TIMEOUT_S = 600  # a probe scans packets without decoding; only a stuck input gets near


class MediaError(ValueError):
  """A bad input or output file; the message is one line that names the file."""


def _one_line(text: str, limit: int = 200) -> str:
  """The last meaningful line of a tool's output, without ffmpeg's `[ctx @ 0x..]` prefixes."""
  lines = [re.sub(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", ln.strip()) for ln in text.splitlines()]
  lines = [ln for ln in lines if ln]
  return lines[-1][:limit] if lines else "no details"


def _exit_reason(returncode: int) -> str:
  if returncode < 0:
    return f"ffmpeg was killed by signal {-returncode}"
  return f"ffmpeg exited with status {returncode}"


def ffmpeg_exe() -> str:
  """Path of the ffmpeg binary bundled with imageio-ffmpeg (no system ffmpeg is needed)."""
  return imageio_ffmpeg.get_ffmpeg_exe()


# ------------------------------------------------------------------------------------------------
# Classification


def _ext(path: str) -> str:
  return os.path.splitext(path.rstrip("/\\"))[1].lower()


def is_image(path: str) -> bool:
  return not os.path.isdir(path) and _ext(path) in IMAGE_EXTS


def is_video(path: str) -> bool:
  # A directory counts as a video of frames, like the official is_video.
  return os.path.isdir(path) or _ext(path) in VIDEO_EXTS


def is_template(path: str) -> bool:
  return not os.path.isdir(path) and _ext(path) in TEMPLATE_EXTS


def classify(path: str) -> str:
  """'image', 'video' or 'template' for an existing input path, by the official rules."""
  if not os.path.exists(path):
    raise MediaError(f"{path}: no such file")
  if is_video(path):
    return "video"
  if is_image(path):
    return "image"
  if is_template(path):
    return "template"
  raise MediaError(
      f"{path}: unknown input type {_ext(path) or '(no extension)'} (expected an image "
      f"{'/'.join(IMAGE_EXTS)}, a video {'/'.join(VIDEO_EXTS)} or a folder of frames, or a "
      f"motion template {'/'.join(TEMPLATE_EXTS)})")


# ------------------------------------------------------------------------------------------------
# Images


def read_image(path: str) -> np.ndarray:
  """Reads an image as uint8 RGB [H, W, 3], like the official cv2.imread + BGR->RGB.

  IMREAD_COLOR drops alpha, expands grayscale and applies the EXIF orientation, as upstream does.
  """
  if os.path.isdir(path):
    raise MediaError(f"{path}: is a directory, not an image")
  if not os.path.isfile(path):
    raise MediaError(f"{path}: no such file")
  img = cv2.imread(path, cv2.IMREAD_COLOR)
  if img is None:
    raise MediaError(f"{path}: not a readable image")
  return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def resize_to_limit(img: np.ndarray, max_dim: int = 1280, division: int = 2) -> np.ndarray:
  """The official resize_to_limit: shrink so the long side is at most `max_dim`, then crop.

  The resize (cv2 INTER_LINEAR) makes the long side exactly `max_dim` and the other
  int(other * (max_dim / long)) -- that operation order, as upstream, since it decides rounding.
  Then the bottom rows / right columns are cropped (not resized) so both sides are multiples of
  `division`, unless that would leave nothing (an image smaller than `division` is kept).
  """
  h, w = img.shape[:2]
  if max_dim > 0 and max(h, w) > max_dim:
    if h > w:
      new_h, new_w = max_dim, int(w * (max_dim / h))
    else:
      new_h, new_w = int(h * (max_dim / w)), max_dim
    img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
  division = max(division, 1)
  h, w = img.shape[:2]
  new_h, new_w = h - h % division, w - w % division
  if new_h == 0 or new_w == 0:
    return img
  return img[:new_h, :new_w]


def _check_rgb(path: str, rgb, what: str) -> np.ndarray:
  arr = np.asarray(rgb)
  if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
    raise MediaError(f"{path}: {what} must be a uint8 RGB [H, W, 3] array, got {arr.dtype} "
                     f"{list(arr.shape)}")
  return arr


def _partial_name(path: str, suffix: str = "") -> str:
  """`<name>.partial-<pid><suffix><ext>` beside `path`: same folder, so os.replace is atomic."""
  stem, ext = os.path.splitext(path)
  return f"{stem}.partial-{os.getpid()}{suffix}{ext}"


def _remove(path: str) -> None:
  try:
    os.remove(path)
  except FileNotFoundError:
    pass


def write_image(path: str, rgb: np.ndarray) -> str:
  """Writes a uint8 RGB image atomically (temporary name, then rename); returns the path.

  The format follows the extension (cv2.imwrite defaults, e.g. JPEG quality 95, as upstream).
  """
  path = os.path.abspath(path)
  if _ext(path) not in _WRITABLE_IMAGE_EXTS:
    raise MediaError(f"{path}: cannot write images of type {_ext(path) or '(no extension)'} "
                     f"(use {'/'.join(_WRITABLE_IMAGE_EXTS)})")
  arr = _check_rgb(path, rgb, "the image")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = _partial_name(path)
  try:
    ok = cv2.imwrite(tmp, cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2BGR))
    if not ok:
      raise MediaError(f"{path}: could not write the image")
    os.replace(tmp, path)
  except cv2.error as e:
    raise MediaError(f"{path}: could not write the image ({_one_line(str(e))})") from None
  finally:
    _remove(tmp)  # a no-op after a successful rename
  return path


# ------------------------------------------------------------------------------------------------
# Probing


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  """Facts about a video (or a folder of frames), from ffmpeg's view of its first video stream.

  Attributes:
    path: the path probed.
    fps: frames per second as OpenCV reports it (the official source of the output fps), or
      ffmpeg's figure where OpenCV has none; 0.0 when unknown.
    n_frames: number of frames, counted from the stream's packets (exact for ordinary files;
      `None` when it could not be determined).
    width: width of the decoded frames, after the display rotation ffmpeg applies.
    height: height of the decoded frames.
    has_audio: whether the file holds an audio stream.
    duration: container duration in seconds (0.0 when unknown).
  """
  path: str
  fps: float
  n_frames: Optional[int]
  width: int
  height: int
  has_audio: bool
  duration: float = 0.0

  @property
  def fps_int(self) -> int:
    """The official output fps: int() truncation (29.97 -> 29), 25 when unknown."""
    return int(self.fps) if self.fps and self.fps > 0 else DEFAULT_FPS

  @property
  def is_square(self) -> bool:
    return self.width == self.height

  @property
  def size(self) -> tuple[int, int]:
    """(width, height)."""
    return self.width, self.height


@dataclasses.dataclass
class _Header:
  """The parts of ffmpeg's input report we use."""
  demuxer: str = ""
  video: Optional[str] = None  # description of the first video stream that is not cover art
  has_audio: bool = False
  duration: float = 0.0
  rotation: float = 0.0
  packets: Optional[int] = None  # from the final `frame=` statistics line, when a copy ran


_STREAM_RE = re.compile(r"^\s*Stream #0:\d+[^:]*: (\w+): (.*)$")
_SIZE_RE = re.compile(r" (\d+)x(\d+)(?=[ ,\[]|$)")  # " 512x512," but not "(avc1 / 0x3163..)"


def _parse_header(text: str) -> _Header:
  """Parses the `Input #0` section (and the final statistics) of ffmpeg's stderr."""
  # Statistics lines end in \r, not \n: normalise so each is a line of its own.
  text = text.replace("\r", "\n")
  cut = min((i for i in (text.find("Stream mapping:"), text.find("Output #0")) if i >= 0),
            default=len(text))
  section, head = text[:cut], _Header()
  m = re.search(r"Input #0, (.*?), from ", section)
  if m:
    head.demuxer = m.group(1)
  for line in section.splitlines():
    m = _STREAM_RE.match(line)
    if not m:
      continue
    kind, desc = m.groups()
    if kind == "Video" and head.video is None and "(attached pic)" not in desc:
      head.video = desc
    elif kind == "Audio":
      head.has_audio = True
  m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", section)
  if m:
    head.duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
  # Newer ffmpeg prints a display matrix; older versions a `rotate` tag.
  m = (re.search(r"rotation of (-?\d+(?:\.\d+)?) degrees", section)
       or re.search(r"rotate\s*:\s*(-?\d+(?:\.\d+)?)", section))
  if m:
    head.rotation = float(m.group(1))
  frames = re.findall(r"^frame=\s*(\d+)", text, flags=re.MULTILINE)
  if frames:
    head.packets = int(frames[-1])
  return head


def _stream_size(path: str, desc: str, rotation: float) -> tuple[int, int]:
  m = _SIZE_RE.search(desc)
  if not m:
    raise MediaError(f"{path}: the video stream has no frame size")
  w, h = int(m.group(1)), int(m.group(2))
  # ffmpeg auto-rotates on decode (as in the official imageio reader), so a quarter-turn
  # display matrix swaps the sides of the frames we actually get.
  if round(abs(rotation)) % 180 == 90:
    w, h = h, w
  return w, h


def _stream_fps(desc: str) -> float:
  m = re.search(r"(\d+(?:\.\d+)?) fps", desc) or re.search(r"(\d+(?:\.\d+)?) tbr", desc)
  return float(m.group(1)) if m else 0.0


def _opencv_fps(path: str) -> float:
  """CAP_PROP_FPS, which the official code uses; 0.0 where OpenCV cannot open the file."""
  cap = cv2.VideoCapture(path)
  try:
    fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
  finally:
    cap.release()
  return float(fps) if fps and np.isfinite(fps) and fps > 0 else 0.0


def _frame_files(folder: str) -> list[str]:
  """The frames of a folder video: image files in name order (as the official sorted glob)."""
  names = sorted(n for n in os.listdir(folder)
                 if _ext(n) in IMAGE_EXTS and os.path.isfile(os.path.join(folder, n)))
  return [os.path.join(folder, n) for n in names]


def _probe_folder(path: str) -> VideoInfo:
  files = _frame_files(path)
  if not files:
    raise MediaError(f"{path}: the folder has no frames ({'/'.join(IMAGE_EXTS)} files)")
  h, w = read_image(files[0]).shape[:2]
  # A folder carries no frame rate: the official get_fps falls back to 25 for it.
  return VideoInfo(path, float(DEFAULT_FPS), len(files), w, h, False)


def probe_video(path: str) -> VideoInfo:
  """Describes a video file (or a folder of frames).

  Args:
    path: a video file, or a folder of image frames.

  Returns:
    A `VideoInfo`.

  Raises:
    MediaError: the path is missing, not a readable video, has no video stream or no frames.
  """
  if os.path.isdir(path):
    return _probe_folder(path)
  if not os.path.isfile(path):
    raise MediaError(f"{path}: no such file")
  # Copying the first video stream into the null muxer reads every packet without decoding: an
  # exact frame count for ordinary files at disk speed, and the stream report comes with it.
  # `0:V` (capital) skips cover art, which is also a "video" stream.
  cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path, "-map", "0:V:0", "-c", "copy",
         "-f", "null", "-"]
  try:
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=_PROBE_TIMEOUT_S, check=False)
  except subprocess.TimeoutExpired:
    raise MediaError(f"{path}: probing the video timed out") from None
  err = proc.stderr.decode("utf-8", "replace")
  head = _parse_header(err)
  if proc.returncode != 0:
    if head.demuxer and head.video is None:
      raise MediaError(f"{path}: has no video stream")
    raise MediaError(f"{path}: not a readable video ({_one_line(err)})")
  if head.video is None:
    raise MediaError(f"{path}: has no video stream")
  if head.demuxer == "image2" or head.demuxer.endswith("_pipe"):
    raise MediaError(f"{path}: is a still image, not a video")
  width, height = _stream_size(path, head.video, head.rotation)
  fps = _opencv_fps(path) or _stream_fps(head.video)
  n_frames = head.packets
  if n_frames is None and head.duration > 0 and fps > 0:
    n_frames = int(round(head.duration * fps))  # the count is best effort; estimate it
  if n_frames == 0:
    raise MediaError(f"{path}: the video has no frames")
  return VideoInfo(path, fps, n_frames, width, height, head.has_audio, head.duration)


def has_audio_stream(path: Optional[str]) -> bool:
  """Whether `path` is a media file with an audio stream (official: ffprobe lists one).

  Like the official helper, anything that cannot be probed (a folder, a missing or unreadable
  file, a template) simply has no audio.
  """
  if not path or not os.path.isfile(path):
    return False
  # With no output named ffmpeg exits with an error, but only after reporting the input.
  cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path]
  try:
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=_PROBE_TIMEOUT_S, check=False)
  except subprocess.TimeoutExpired:
    return False
  return _parse_header(proc.stderr.decode("utf-8", "replace")).has_audio


def choose_audio_source(driving: Optional[str], source: Optional[str],
                        priority: str = "driving") -> Optional[str]:
  """Which input's audio goes into the result (the official rule), or None.

  The driving video's if it has audio and either `priority` is 'driving' or the source has
  none; else the source's if it has audio; else no audio.
  """
  if priority not in ("driving", "source"):
    raise ValueError(f"audio priority must be 'driving' or 'source', got {priority!r}")
  driving_has = has_audio_stream(driving)
  source_has = has_audio_stream(source)
  if driving_has and (priority == "driving" or not source_has):
    return driving
  return source if source_has else None


# ------------------------------------------------------------------------------------------------
# Streaming decode

_END = object()  # queue sentinel: the stream is over


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
    max_frames: at most this many frames are produced (None: all).
    buffer: the queue bound.
    frames_decoded: frames the decoder has produced so far (producer side).
    frames_read: frames handed to the consumer so far.
    peak_queued: the largest number of frames that have waited in the queue at once.
  """

  def __init__(self, path: str, max_frames: Optional[int] = None, buffer: int = 8,
               info: Optional[VideoInfo] = None):
    if max_frames is not None and max_frames < 1:
      raise ValueError(f"max_frames must be positive, got {max_frames}")
    if buffer < 1:
      raise ValueError(f"buffer must be positive, got {buffer}")
    self.path = path
    self.info = info if info is not None else probe_video(path)
    self.max_frames = max_frames
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
        for frame in frames:
          self.frames_decoded += 1
          if not self._put(frame):
            return
          if self.max_frames is not None and self.frames_decoded >= self.max_frames:
            break
      finally:
        frames.close()  # ends the decoder now, not whenever the generator is collected
      if self.frames_decoded == 0 and not self._stop.is_set():
        raise MediaError(f"{self.path}: the video has no frames")
      self._put(_END)
    except MediaError as e:
      self._put(e)
    except Exception as e:  # pylint: disable=broad-except
      # Whatever broke, the consumer must hear about it rather than wait forever.
      why = _one_line(str(e)) if str(e).strip() else type(e).__name__
      self._put(MediaError(f"{self.path}: decoding failed ({why})"))

  def _folder_frames(self) -> Iterator[np.ndarray]:
    for file in _frame_files(self.path):
      if self._stop.is_set():
        return
      frame = read_image(file)
      if frame.shape[:2] != (self.info.height, self.info.width):
        raise MediaError(f"{file}: frame is {frame.shape[1]}x{frame.shape[0]}, the other "
                         f"frames of the folder are {self.info.width}x{self.info.height}")
      yield frame

  def _decoded_frames(self) -> Iterator[np.ndarray]:
    # The official reader's output arguments (imageio: rgb24 rawvideo over image2pipe), so the
    # frames are bit-identical to upstream's; -frames:v lets ffmpeg stop by itself.
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", self.path, "-map", "0:V:0"]
    if self.max_frames is not None:
      cmd += ["-frames:v", str(self.max_frames)]
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
            why = _one_line(text) if text else _exit_reason(rc)
            raise MediaError(f"{self.path}: the stream ended inside frame "
                             f"{self.frames_decoded + 1} ({why})")
          yield frame
        if self._stop.is_set():
          return
        rc = proc.wait()
        if rc != 0:
          log.seek(0)
          text = log.read().decode("utf-8", "replace").strip()
          why = _one_line(text) if text else _exit_reason(rc)
          raise MediaError(f"{self.path}: decoding failed after frame {self.frames_decoded} "
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


# ------------------------------------------------------------------------------------------------
# Streaming encode

_ACTIVE_TEMPS: set[str] = set()  # temporary names in use by live writers of this process
_ACTIVE_LOCK = threading.Lock()


class VideoWriter:
  """Encodes uint8 RGB frames to an H.264 (yuv420p, crf 18) video on a background thread.

  Mirrors the official images2video (imageio's ffmpeg writer, libx264, yuv420p, crf 18,
  macro_block_size 2): a frame with an odd side is scaled up to the next even size, as imageio
  does. Frames go to `<name>.partial-<pid>.mp4` in the destination folder; `close()` waits for the
  encoder, muxes audio from `audio_from` when that file has an audio stream (as the official
  add_audio_to_video, with short audio padded rather than frames dropped) and only then renames
  the result to `path`. `abort()` -- or leaving a `with` block by an exception -- deletes the
  temporary files, so nothing is left behind; leaving the block normally closes the writer.

    with VideoWriter("out.mp4", fps=25, audio_from="d11.mp4") as writer:
      for frame in frames:
        writer.write(frame)

  Attributes:
    path: absolute path of the final file.
    fps: frame rate of the output.
    audio_from: the file whose audio is muxed in (None: silent).
    frames_written: frames accepted so far.
    size: (width, height) of the frames, known after the first `write()`.
    audio_muxed: after `close()`, whether audio was actually added.
  """

  def __init__(self, path: str, fps: float, audio_from: Optional[str] = None, buffer: int = 8,
               crf: int = DEFAULT_CRF):
    self.path = os.path.abspath(path)
    if not fps or fps <= 0:
      raise MediaError(f"{self.path}: the frame rate must be positive, got {fps}")
    if not _ext(self.path):
      raise MediaError(f"{self.path}: the output needs an extension such as .mp4")
    self.fps = fps
    self.audio_from = audio_from
    self.crf = crf
    self.frames_written = 0
    self.size: Optional[tuple[int, int]] = None
    self.audio_muxed = False
    self._tmp = _partial_name(self.path)
    self._tmp_audio = _partial_name(self.path, ".audio")
    self._queue: queue.Queue = queue.Queue(maxsize=buffer)
    self._thread: Optional[threading.Thread] = None
    self._proc: Optional[subprocess.Popen] = None
    self._log = None
    self._error: Optional[BaseException] = None
    self._encoder_stopped = False
    self._state = "open"
    with _ACTIVE_LOCK:
      if self._tmp in _ACTIVE_TEMPS:
        raise MediaError(f"{self.path}: another writer of this process is writing this file")
      _ACTIVE_TEMPS.add(self._tmp)
    try:
      os.makedirs(os.path.dirname(self.path), exist_ok=True)
    except OSError as e:
      self._release()
      raise MediaError(f"{self.path}: cannot create the folder ({e.strerror})") from None

  def _release(self) -> None:
    with _ACTIVE_LOCK:
      _ACTIVE_TEMPS.discard(self._tmp)

  def _start(self, width: int, height: int) -> None:
    # imageio's writer command line, so the encoded stream matches the official one.
    cmd = [ffmpeg_exe(), "-y", "-nostdin", "-f", "rawvideo", "-vcodec", "rawvideo",
           "-s", f"{width}x{height}", "-pix_fmt", "rgb24",
           "-r", str(fractions.Fraction(self.fps).limit_denominator()),
           "-i", "-", "-an", "-vcodec", "libx264", "-pix_fmt", "yuv420p", "-crf", str(self.crf)]
    if width % 2 or height % 2:
      # yuv420p needs even sides; imageio (macro_block_size=2) scales up to the next even size.
      cmd += ["-vf", f"scale={width + width % 2}:{height + height % 2}"]
    cmd += ["-v", "error", self._tmp]
    self._log = tempfile.TemporaryFile()
    try:
      self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=self._log, start_new_session=True)
    except OSError as e:
      raise MediaError(f"{self.path}: cannot start ffmpeg ({e.strerror})") from None
    self._thread = threading.Thread(target=self._feed, daemon=True,
                                    name=f"VideoWriter({os.path.basename(self.path)})")
    self._thread.start()

  def _feed(self) -> None:
    """Background thread: pipes queued frames into ffmpeg until the end sentinel."""
    while True:
      item = self._queue.get()
      if item is _END:
        return
      if self._error is not None:
        continue  # keep draining after a failure so that write() never blocks forever
      try:
        self._proc.stdin.write(item)
      except (OSError, ValueError) as e:  # broken pipe: ffmpeg died; ValueError: pipe closed
        self._error = e

  def _ffmpeg_message(self) -> str:
    if self._log is None:
      return "no details"
    self._log.seek(0)
    return _one_line(self._log.read().decode("utf-8", "replace"))

  def _check_alive(self) -> None:
    if self._error is not None or (self._proc is not None and self._proc.poll() is not None):
      raise MediaError(f"{self.path}: the encoder stopped ({self._ffmpeg_message()})")

  def write(self, frame: np.ndarray) -> None:
    """Queues one uint8 RGB [H, W, 3] frame; all frames must have the first frame's size."""
    if self._state != "open":
      raise MediaError(f"{self.path}: the writer is already {self._state}")
    arr = _check_rgb(self.path, frame, f"frame {self.frames_written}")
    h, w = arr.shape[:2]
    if self.size is None:
      self._start(w, h)
      self.size = (w, h)
    elif (w, h) != self.size:
      raise MediaError(f"{self.path}: frame {self.frames_written} is {w}x{h}, the video is "
                       f"{self.size[0]}x{self.size[1]}")
    self._check_alive()
    # A private contiguous copy: the caller may reuse its buffer as soon as write() returns.
    arr = np.array(arr, dtype=np.uint8, order="C", copy=True)
    while True:
      try:
        self._queue.put(arr, timeout=_QUEUE_POLL_S)
        break
      except queue.Full:
        self._check_alive()
    self.frames_written += 1

  def _stop_encoder(self, kill: bool) -> Optional[int]:
    """Ends the feeder thread and ffmpeg; returns ffmpeg's exit status."""
    if self._proc is None or self._encoder_stopped:
      return None if self._proc is None else self._proc.returncode
    self._encoder_stopped = True
    if kill and self._proc.poll() is None:
      self._proc.kill()  # the feeder's pending write then fails and it drains the queue
    self._queue.put(_END)
    self._thread.join()
    try:
      self._proc.stdin.close()
    except OSError as e:  # a broken pipe at flush time: ffmpeg already quit
      if self._error is None:
        self._error = e
    return self._proc.wait()

  def close(self) -> str:
    """Finishes the video, adds audio, renames it into place and returns its path."""
    if self._state == "closed":
      return self.path
    if self._state == "aborted":
      raise MediaError(f"{self.path}: the writer was aborted")
    try:
      if self._proc is None:
        raise MediaError(f"{self.path}: no frames were written")
      rc = self._stop_encoder(kill=False)
      if self._error is not None or rc != 0:
        raise MediaError(f"{self.path}: encoding failed ({self._ffmpeg_message()})")
      final = self._tmp
      if self.audio_from and has_audio_stream(self.audio_from):
        self._mux_audio()
        final = self._tmp_audio
        self.audio_muxed = True
      os.replace(final, self.path)
    except BaseException:
      self.abort()
      raise
    self._state = "closed"
    self._cleanup()
    return self.path

  def _mux_audio(self) -> None:
    cmd = [ffmpeg_exe(), "-y", "-nostdin", "-v", "error", "-i", self._tmp, "-i", self.audio_from,
           # apad + -shortest: audio shorter than the video is padded with silence, so every
           # frame is kept (the official `-shortest` alone drops the frames past the audio);
           # longer audio is cut at the video's end.
           "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-af", "apad", "-shortest",
           self._tmp_audio]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0:
      raise MediaError(f"{self.path}: adding the audio of {self.audio_from} failed "
                       f"({_one_line(proc.stderr.decode('utf-8', 'replace'))})")

  def abort(self) -> None:
    """Stops the encoder and deletes the temporary files. A no-op once closed or aborted."""
    if self._state != "open":
      return
    self._state = "aborted"
    self._stop_encoder(kill=True)
    self._cleanup()

  def _cleanup(self) -> None:
    _remove(self._tmp)
    _remove(self._tmp_audio)
    if self._log is not None:
      self._log.close()
      self._log = None
    self._release()

  def __enter__(self) -> "VideoWriter":
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if exc_type is not None:
      self.abort()
    else:
      self.close()


def write_gif(mp4_path: str, gif_path: str) -> str:
  """Converts a video to a GIF with the official two-pass palette recipe; returns the GIF path.

  `fps=30,scale=256:-1:flags=lanczos` then palettegen, and the same chain into paletteuse. The
  palette and the GIF are written under temporary names beside `gif_path`; the GIF is renamed
  into place only when ffmpeg succeeded.
  """
  gif_path = os.path.abspath(gif_path)
  if not os.path.isfile(mp4_path):
    raise MediaError(f"{mp4_path}: no such file")
  os.makedirs(os.path.dirname(gif_path), exist_ok=True)
  stem = os.path.splitext(gif_path)[0]
  palette = f"{stem}.partial-{os.getpid()}.palette.png"
  tmp = f"{stem}.partial-{os.getpid()}.gif"
  exe = ffmpeg_exe()
  steps = [
      [exe, "-y", "-nostdin", "-v", "error", "-i", mp4_path, "-vf", f"{GIF_FILTER},palettegen",
       palette],
      [exe, "-y", "-nostdin", "-v", "error", "-i", mp4_path, "-i", palette, "-filter_complex",
       f"{GIF_FILTER}[x];[x][1:v]paletteuse", tmp],
  ]
  try:
    for cmd in steps:
      proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
      if proc.returncode != 0:
        raise MediaError(f"{gif_path}: making the GIF from {mp4_path} failed "
                         f"({_one_line(proc.stderr.decode('utf-8', 'replace'))})")
    os.replace(tmp, gif_path)
  finally:
    _remove(palette)
    _remove(tmp)
  return gif_path

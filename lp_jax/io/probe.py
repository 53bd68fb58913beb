# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""What ffmpeg reports about a video (size, frame rate, frame count, audio), and which input's
audio goes into a result.

A probe copies the first video stream into ffmpeg's null muxer: every packet is read without
decoding, which gives an exact frame count at disk speed. The frame rate is OpenCV's, as the
official code takes it.
"""

import dataclasses
import os
import re
import subprocess
from typing import Optional

import cv2
import numpy as np

from lp_jax.io import ffmpeg, images, kinds
from lp_jax.io.errors import MediaError, one_line

DEFAULT_FPS = 25  # the official fallback when a video reports no frame rate
_PROBE_TIMEOUT_S = 600  # a probe scans packets without decoding; only a stuck input gets near


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


def frame_files(folder: str) -> list[str]:
  """The frames of a folder video: image files in name order (as the official sorted glob)."""
  names = sorted(n for n in os.listdir(folder)
                 if kinds.ext(n) in kinds.IMAGE_EXTS and os.path.isfile(os.path.join(folder, n)))
  return [os.path.join(folder, n) for n in names]


def _probe_folder(path: str) -> VideoInfo:
  files = frame_files(path)
  if not files:
    raise MediaError(f"{path}: the folder has no frames ({'/'.join(kinds.IMAGE_EXTS)} files)")
  h, w = images.read_image(files[0]).shape[:2]
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
  cmd = [ffmpeg.ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path, "-map", "0:V:0", "-c", "copy",
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
    raise MediaError(f"{path}: not a readable video ({one_line(err)})")
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
  cmd = [ffmpeg.ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path]
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

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A source video (official "portrait video editing"): every source frame is re-animated.

The source video is read three times and never held in memory:
  1. `prepare`: face tracking (203 points) per frame, before any weights load; only landmarks
     are kept, so a missing face is reported before the networks are touched;
  2. `frames`: crops through M -> the per-frame source motion and x_s (the pipeline);
  3. `frames` again (same landmarks, same crop) for F and the paste-back, streamed in batches
     next to W+G.
The motion sequences are Kalman-smoothed over the whole video
(driving_keypoints.video_source_keypoints).
"""

import dataclasses
import os
from typing import Iterator

import numpy as np

from lp_jax.inference import faces as faces_lib
from lp_jax.io import images, probe, video_reader
from lp_jax.io.errors import MediaError
from lp_jax.preprocess import ratios as ratios_lib


@dataclasses.dataclass
class SourceVideo:
  """What pass 1 learned about a source video."""
  path: str
  info: probe.VideoInfo
  options: object  # AnimationOptions
  faces: faces_lib.FaceStage
  max_frames: int | None
  track: faces_lib.Track | None  # None without face models (and no cropping)
  notes: list = dataclasses.field(default_factory=list)
  start: int = 0  # the first frame used (a clip cut there: tracking starts on it)

  @property
  def ratios(self) -> ratios_lib.Ratios | None:
    if self.track is None:
      return None
    lmks = [l for l in self.track.lmks if l is not None]
    if self.options.flag_do_crop:  # official: the ratios of the 256-crop landmarks
      lmks = [self.faces.crop_landmarks_256(l) for l in lmks]
    return ratios_lib.of_landmarks(np.stack(lmks))

  def frames(self, limit: int | None = None) -> Iterator[tuple[np.ndarray, faces_lib.SourceFace]]:
    """(size-limited RGB frame, its SourceFace) for the first `limit` usable frames."""
    opts = self.options
    done = 0
    with video_reader.VideoReader(self.path, max_frames=self.max_frames, info=self.info,
                                  start=self.start) as reader:
      for i, frame in enumerate(reader):
        if limit is not None and done >= limit:
          break
        lmk = self.track.lmks[i] if self.track else None
        if self.track and lmk is None:
          continue
        rgb = images.resize_to_limit(frame, opts.source_max_dim, opts.source_division)
        done += 1
        yield rgb, self.faces.source_frame(rgb, lmk, opts.flag_do_crop)


def prepare(path: str, options, faces: faces_lib.FaceStage,
            max_frames: int | None = None, start: int = 0) -> SourceVideo:
  """Pass 1: probe and track the source video (one-line errors, nothing loaded yet).

  `start` / `max_frames` select frames [start, start + max_frames), as if the clip were cut
  there: tracking starts on frame `start`.
  """
  info = probe.probe_video(path)
  if info.n_frames == 0:
    raise MediaError(f"{path}: the video has no frames")
  out = SourceVideo(path, info, options, faces, max_frames, None, start=start)
  if options.flag_do_crop:
    faces.require(path, "cropping the source video (--flag_do_crop, the default; pass "
                        "--no_flag_do_crop for already-cropped frames)")
  if not faces.available:
    out.notes.append("source landmarks are off (no face models): no paste-back, lip "
                     "normalisation or eye retargeting for the source video")
    return out

  def resized():
    with video_reader.VideoReader(path, max_frames=max_frames, info=info, start=start) as reader:
      for frame in reader:
        yield images.resize_to_limit(frame, options.source_max_dim, options.source_division)

  track = faces.track(resized())
  if all(l is None for l in track.lmks):
    if options.flag_do_crop:
      raise MediaError(f"{path}: no face found in any source frame")
    out.notes.append(f"{os.path.basename(path)}: no face found; source landmarks are off")
    return out
  note = faces_lib.skipped_note(track, path)
  if note:
    out.notes.append(note)
  if not options.flag_do_crop and track.skipped:
    out.notes.append(f"{os.path.basename(path)}: no face in frame #0; source landmarks are off")
    return out
  out.track = track
  return out

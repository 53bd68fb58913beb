# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Video retargeting (the official `execute_video_retargeting`): every frame of a source video
re-rendered with a target lip-open ratio, or with its lips kept silent.

  lip ratio:  x_d_i = x_s_i + smooth(lip_delta_i),  lip_delta_i = R_lip(x_s_i, [c_s_lip_i, target])
  silent:     x_d_i = s_i * (kp_i @ R_i + delta_i) + t_i, delta_i = the neutral lip expression with
              the eye rows (11, 13, 15, 16, 18) of the frame's own expression
  then x_d_i = stitching(x_s_i, x_d_i), W+G, paste-back into the frame.

The lip deltas are Kalman-smoothed over the whole video with the given observation variance.
The video is read three times (landmarks, motion, rendering) and never held in memory. Outputs:
`<name>_retargeting_concat.mp4` (source crop | result) and `<name>_retargeting.mp4` (pasted back),
both with the source's audio.
"""

import os
from typing import Callable, Iterator

import numpy as np

from lp_jax.errors import InputError
from lp_jax.inference.frames import concat_frame
from lp_jax.io import images, probe, video_reader, video_writer
from lp_jax.io.errors import MediaError
from lp_jax.ops import batching
from lp_jax.preprocess import crop as crop_lib
from lp_jax.preprocess import paste_back as paste_back_lib
from lp_jax.preprocess import ratios as ratios_lib
from lp_jax.preprocess import smooth

EYE_ROWS = (11, 13, 15, 16, 18)  # expression rows the silent mode keeps from the source

def _frames(path: str, info, max_frames) -> Iterator[np.ndarray]:
  with video_reader.VideoReader(path, max_frames=max_frames, info=info) as reader:
    for frame in reader:
      yield images.resize_to_limit(frame, 1280, 2)


def _crops(path, info, max_frames, lmks, do_crop: bool, scale: float):
  """(frame, 256 crop, crop -> frame matrix or None) for every frame with landmarks."""
  for i, rgb in enumerate(_frames(path, info, max_frames)):
    if lmks is not None and lmks[i] is None:
      continue  # before the first detected face (official tracker)
    if do_crop:
      crop = crop_lib.crop_source_image(rgb, lmks[i], scale=scale)
      yield rgb, crop["img_crop_256x256"], crop["M_c2o"]
    else:
      yield rgb, crop_lib.resize_linear(rgb), None


def retarget_video(pipe, faces, path: str, out_dir: str, *, lip_ratio: float, scale: float,
                   smooth_variance: float, silent: bool, do_crop: bool,
                   neutral_lip: np.ndarray, max_frames: int | None = None,
                   progress: Callable[[int, int, str], None] | None = None) -> tuple[str, str]:
  """Writes the retargeted video and its concat; returns (concat path, result path).

  Raises:
    MediaError: one line, for an unreadable or empty video, no face, missing models.
    InputError: a bad setting (the smoothing variance).
  """
  name = os.path.splitext(os.path.basename(path))[0]
  info = probe.probe_video(path)
  if info.n_frames == 0:
    raise MediaError(f"{os.path.basename(path)}: the video has no frames")
  if not smooth_variance or smooth_variance <= 0:
    raise InputError("motion smooth strength must be positive")
  if do_crop or not silent:
    faces.require(os.path.basename(path), "cropping the video or measuring its lip ratio")
  lmks = None
  if faces.available:
    lmks = faces.track(_frames(path, info, max_frames)).lmks
    if all(l is None for l in lmks):
      raise MediaError(f"{os.path.basename(path)}: no face found in any frame")
  n = info.n_frames if lmks is None else sum(l is not None for l in lmks)
  if max_frames:
    n = min(n, max_frames)

  # Pass 2: per-frame motion (and the lip deltas, smoothed over the whole video).
  motion = pipe.motion_of_stream(
      crop for _, crop, _ in _crops(path, info, max_frames, lmks, do_crop, scale))
  x_s = motion["x_s"]  # [T, K, 3]
  if silent:
    delta = np.repeat(np.asarray(neutral_lip, np.float32).reshape(1, -1, 3), len(x_s), 0)
    delta[:, EYE_ROWS] = motion["exp"][:, EYE_ROWS]
    x_d = (motion["scale"][:, :, None] * (motion["kp"] @ motion["R"] + delta) +
           motion["t"][:, None, :])
  else:
    used = [l for l in lmks if l is not None][:len(x_s)]
    lip_src = ratios_lib.of_landmarks(np.stack(used)).lip  # [T, 1]
    cond = np.concatenate([lip_src, np.full_like(lip_src, lip_ratio)], 1).astype(np.float32)
    deltas = np.concatenate([np.asarray(pipe.models.retarget_lip(x_s[i:i + pipe.batch_size],
                                                                 cond[i:i + pipe.batch_size]))
                             for i in range(0, len(x_s), pipe.batch_size)])
    x_d = x_s + smooth.kalman_smooth(deltas, smooth_variance)
  x_d = np.asarray(pipe.models.stitching(x_s, x_d))

  # Pass 3: F per frame, W+G, paste-back, and the two videos with the source's audio.
  audio = path if info.has_audio else None
  main = video_writer.VideoWriter(os.path.join(out_dir, f"{name}_retargeting.mp4"), info.fps_int, audio)
  concat = video_writer.VideoWriter(os.path.join(out_dir, f"{name}_retargeting_concat.mp4"),
                             info.fps_int, audio)
  done = 0
  try:
    for batch in batching.batched(_crops(path, info, max_frames, lmks, do_crop, scale),
                                  pipe.batch_size):
      crops = np.stack([c for _, c, _ in batch])
      sl = slice(done, done + len(batch))
      out = pipe.decoder(pipe.source_features(crops), x_s[sl], x_d[sl])
      for (rgb, crop256, m_c2o), frame in zip(batch, out):
        pasted = frame
        if m_c2o is not None:
          mask = paste_back_lib.frame_mask(m_c2o, rgb)
          pasted = paste_back_lib.paste_back(frame, m_c2o, rgb, mask)
        main.write(pasted)
        concat.write(concat_frame(None, crop256, frame))
      done += len(batch)
      if progress:
        progress(done, n, "retargeting video")
    return concat.close(), main.close()
  except BaseException:
    main.abort()
    concat.abort()
    raise

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Image-source portrait animation, streamed: `LivePortrait.from_pretrained(path).animate(...)`.

The source is encoded once (F, M). Driving frames stream from a reader thread in batches of
`batch_size`: M, the driving keypoints (relative to the first driving frame), stitching and
retargeting, then W+G sharded over the local devices, then a writer thread. Memory therefore
does not grow with the video's length.
"""

import dataclasses
import sys
import time
from typing import Iterator

import cv2
import jax.numpy as jnp
import numpy as np

from lp_jax.inference import assets
from lp_jax.inference.decoder import FrameDecoder
from lp_jax.inference.driving import Ratios, animal_keypoints, image_source_keypoints
from lp_jax.inference.driving_input import DrivingChunk
from lp_jax.inference.options import AnimationOptions
from lp_jax.motion_template import lip_constant
from lp_jax.ops import keypoints
from lp_jax.wrapper import LivePortraitModels

MOTION_KEYS = ("scale", "R", "exp", "t")


@dataclasses.dataclass
class Source:
  """An encoded source image."""
  rgb: np.ndarray  # the (size-limited) source frame, uint8 RGB
  crop256: np.ndarray  # the network input, uint8 RGB 256x256
  feature_3d: jnp.ndarray  # [1, D, 64, 64, C]
  info: dict  # motion of the source (batch 1), with R
  x_s: jnp.ndarray  # [1, K, 3]
  ratios: Ratios | None = None  # eye / lip ratios when landmarks exist
  m_c2o: np.ndarray | None = None  # crop -> original affine (3x3) when cropped


def to_unit(rgb: np.ndarray) -> jnp.ndarray:
  return jnp.asarray(rgb, jnp.float32) / 255.0


class LivePortrait:
  """The image-source animation pipeline over LivePortraitModels."""

  def __init__(self, models: LivePortraitModels, *, batch_size: int = 8, lip_array=None,
               synthetic: bool = False, devices=None):
    self.models = models
    self.decoder = FrameDecoder(models, batch_size, devices)
    self.batch_size = self.decoder.batch_size
    self.lip_array = lip_array
    self.synthetic = synthetic  # random weights: say so wherever output is written

  @classmethod
  def from_pretrained(cls, path: str, *, batch_size: int = 8, config=None, lip_array=None,
                      devices=None, dtype=jnp.float32) -> "LivePortrait":
    """`path`: pretrained_weights/, its liveportrait/ folder, or a converted directory.

    `lip_array`: the neutral-lip constant of image driving (default: the bundled official one);
    `devices`: where W+G batches are sharded (default: every local device); `dtype`: compute
    dtype of F, M, W, G (lp_jax.precision).
    """
    weights, _ = assets.resolve(path)
    converted = assets.converted(weights, config)
    models = LivePortraitModels.from_pretrained(converted, config, dtype)
    if lip_array is None:
      lip_array = lip_constant.bundled_lip_array()
    return cls(models, batch_size=batch_size, lip_array=lip_array, devices=devices,
               synthetic=assets.is_synthetic(converted))

  # -- source -----------------------------------------------------------------------------

  def encode_source(self, rgb: np.ndarray, crop256: np.ndarray, ratios: Ratios | None = None,
                    m_c2o: np.ndarray | None = None) -> Source:
    image = to_unit(crop256[None])
    info = self.models.get_kp_info(image)
    return Source(rgb=rgb, crop256=crop256, feature_3d=self.models.extract_feature_3d(image),
                  info=info, x_s=keypoints.transform_kp_info(info), ratios=ratios, m_c2o=m_c2o)

  def _padded(self, crops256: np.ndarray) -> tuple[jnp.ndarray, int]:
    """Crops padded to a multiple of batch_size (one compiled shape for every batch)."""
    n = crops256.shape[0]
    pad = -n % self.batch_size
    if pad:
      crops256 = np.concatenate([crops256, np.repeat(crops256[-1:], pad, axis=0)])
    return to_unit(crops256), n

  def source_features(self, crops256: np.ndarray) -> jnp.ndarray:
    """F of uint8 [n, 256, 256, 3] source-video crops: [n, D, 64, 64, C]."""
    image, n = self._padded(crops256)
    return self.models.extract_feature_3d(image)[:n]

  def animate_source_video(self, feature_3d, x_s, x_d) -> np.ndarray:
    """uint8 frames for per-frame (f_s, x_s, x_d) of a source-video batch."""
    return self.decoder(feature_3d, x_s, x_d)

  # -- driving ----------------------------------------------------------------------------

  def motion_of_frames(self, crops256: np.ndarray) -> dict:
    """Driving motion (scale, R, exp, t, kp, x_s) of uint8 [n, 256, 256, 3] crops."""
    image, n = self._padded(crops256)
    info = self.models.get_kp_info(image)
    out = {k: info[k][:n] for k in MOTION_KEYS + ("kp",)}
    out["x_s"] = keypoints.transform_kp_info(info)[:n]
    return out

  # -- animation --------------------------------------------------------------------------

  def animate(self, source: Source, chunks: Iterator[DrivingChunk],
              options: AnimationOptions = AnimationOptions(), *, driving_is_video: bool = True,
              notes: list[str] | None = None, animal: bool = False
              ) -> Iterator[tuple[np.ndarray, DrivingChunk, np.ndarray]]:
    """Yields (uint8 [n, 512, 512, 3] generated crops, the chunk that drove them, x_d [n, K, 3])."""
    notes = notes if notes is not None else []
    drv0 = None
    for chunk in chunks:
      motion = {k: jnp.asarray(chunk.motion[k], jnp.float32) for k in MOTION_KEYS}
      if drv0 is None:
        drv0 = {k: v[:1] for k, v in motion.items()}
      if animal:  # the official animals pipeline (liveportrait_animals weights)
        x_d, chunk_notes = animal_keypoints(self.models, source.info, source.x_s, motion,
                                            options, drv0=drv0), []
      else:
        x_d, chunk_notes = image_source_keypoints(
            self.models, source.info, source.x_s, motion, options,
            driving_is_video=driving_is_video, lip_array=self.lip_array,
            source_ratios=source.ratios, driving_ratios=chunk.ratios, drv0=drv0)
      for note in chunk_notes:
        if note not in notes:
          notes.append(note)
      x_d = np.asarray(x_d)
      yield self.decoder(source.feature_3d, source.x_s, x_d), chunk, x_d


def concat_frame(driving256: np.ndarray | None, source256: np.ndarray,
                 generated: np.ndarray) -> np.ndarray:
  """[driving | source | result], each resized to the result's size (official concat)."""
  h, w = generated.shape[:2]
  cols = [c for c in (driving256, source256) if c is not None]
  cols = [cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in cols]
  return np.concatenate(cols + [generated], axis=1)


class Progress:
  """A one-line frames / fps progress report on stderr (silent when quiet)."""

  def __init__(self, total: int | None, quiet: bool, label: str = "animating"):
    self.total, self.quiet, self.label = total, quiet, label
    self.done, self.start = 0, time.perf_counter()
    self.first_frame_s = None

  def update(self, n: int) -> None:
    if self.first_frame_s is None:
      self.first_frame_s = time.perf_counter() - self.start
    self.done += n
    if not self.quiet:
      rate = self.done / max(time.perf_counter() - self.start, 1e-9)
      total = f"/{self.total}" if self.total else ""
      print(f"\r{self.label}: {self.done}{total} frames, {rate:.2f} fps", end="",
            file=sys.stderr, flush=True)

  def close(self) -> None:
    if not self.quiet and self.done:
      print(file=sys.stderr, flush=True)

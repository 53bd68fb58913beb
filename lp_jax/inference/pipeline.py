# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Portrait animation for both source kinds: `LivePortrait.from_pretrained(path).animate(...)`.

`animate(source, driving, options)` takes an image source (`SourceImage`, encoded once by F and
M) or a source video (`SourceVideo`, every frame re-animated) with a prepared driving input, and
returns an `Animation`: a stream of `Frame`s (the generated crop, the result pasted back into its
source frame, the [driving | source | result] concatenation, the keypoints that made them) and
the driving motion of the animated frames, for the motion template.

Both kinds meet in one place: driving keypoints x_d (`driving_keypoints`) batch by batch, then
W+G in fixed-size batches sharded over the devices (`decoder.FrameDecoder`), then paste-back. An
image source streams the driving frames in batches, so memory does not grow with the video; a
source video needs the whole driving motion first, because both motion sequences are smoothed
over time, and then streams its own frames again for F and the paste-back.
"""

import dataclasses
from typing import Iterator

import jax.numpy as jnp
import numpy as np

from lp_jax.inference import assets
from lp_jax.inference import driving_keypoints
from lp_jax.inference import prefetch
from lp_jax.inference import stream as stream_lib
from lp_jax.inference.decoder import FrameDecoder
from lp_jax.inference.driving_stream import DrivingChunk, DrivingInput, merge_chunks
from lp_jax.inference.frames import (MOTION_KEYS, Frame, SourceImage, finisher,
                                     first_frame_motion)
from lp_jax.inference.networks import LivePortraitModels, to_unit
from lp_jax.inference.options import FRAME_OPS, AnimationOptions
from lp_jax.inference.source_video import SourceVideo
from lp_jax.io.errors import MediaError
from lp_jax.models import kernels
from lp_jax.motion_template import lip_constant
from lp_jax.motion_template.template import MotionTemplate
from lp_jax.ops import batching
from lp_jax.ops import cv_resize
from lp_jax.ops import paste_back as paste_ops
from lp_jax.preprocess.ratios import Ratios

@dataclasses.dataclass
class EncodedSource:
  """A source crop through F and M."""
  crop256: np.ndarray  # uint8 RGB 256x256, the network input
  feature_3d: jnp.ndarray  # [1, D, 64, 64, C]
  info: dict  # motion of the source (batch 1), with R
  x_s: jnp.ndarray  # [1, K, 3]


@dataclasses.dataclass
class Animation:
  """The frames of one animation (a stream, consumed once) and what it recorded on the way."""
  frames: Iterator[Frame]
  fps: int  # the driving frame rate (an image drives at 25)
  notes: list  # features that could not run, and why (appended to as frames are made)
  # Motion and ratios of the animated driving frames, filled as frames are consumed (none for a
  # template driver: the template is the motion).
  driving_motion: list = dataclasses.field(default_factory=list)
  source_motion: dict | None = None  # a source video's per-frame motion [T] (with x_s)

  def __iter__(self) -> Iterator[Frame]:
    return self.frames

  def template(self) -> MotionTemplate | None:
    """The driving motion template of what was animated (None for a template driver)."""
    if not self.driving_motion:
      return None
    motion, ratios = merge_chunks(self.driving_motion)
    return MotionTemplate(
        output_fps=int(self.fps), scale=motion["scale"], R=motion["R"], exp=motion["exp"],
        t=motion["t"], kp=motion.get("kp"), x_s=motion.get("x_s"),
        eye_ratios=None if ratios is None else ratios.eye,
        lip_ratios=None if ratios is None else ratios.lip)


class LivePortrait:
  """The animation pipeline over LivePortraitModels."""

  def __init__(self, models: LivePortraitModels, *, batch_size: int = 8, lip_array=None,
               synthetic: bool = False, devices=None, frame_ops: str = "auto"):
    """`lip_array`: the neutral-lip constant of image driving (None: image driving with
    relative motion is refused); `synthetic`: random weights, said wherever output is written;
    `frame_ops`: where the paste-back runs, 'device' (in the W+G program), 'host' (OpenCV) or
    'auto' (the devices' backend's choice, `KernelForms.frame_ops_on_device`)."""
    self.models = models
    self.decoder = FrameDecoder(models, batch_size, devices)
    if frame_ops not in FRAME_OPS:
      raise ValueError(f"frame_ops {frame_ops!r}: expected one of {FRAME_OPS}")
    platform = self.decoder.mesh.devices.flat[0].platform
    self.frame_ops_on_device = (kernels.for_platform(platform).frame_ops_on_device
                                if frame_ops == "auto" else frame_ops == "device")
    self.batch_size = self.decoder.batch_size
    self.lip_array = lip_array
    self.synthetic = synthetic

  @classmethod
  def from_pretrained(cls, path: str, *, batch_size: int = 8, config=None, lip_array=None,
                      devices=None, dtype=jnp.float32, frame_ops: str = "auto") -> "LivePortrait":
    """`path`: pretrained_weights/, its liveportrait/ folder, or a converted directory.

    `lip_array`: default the bundled official one; `devices`: where W+G batches are sharded
    (default: every local device); `dtype`: compute dtype of F, M, W, G (lp_jax.precision).
    """
    weights, _ = assets.resolve(path)
    converted = assets.converted(weights, config)
    models = LivePortraitModels.from_pretrained(converted, config, dtype)
    if lip_array is None:
      lip_array = lip_constant.bundled_lip_array()
    return cls(models, batch_size=batch_size, lip_array=lip_array, devices=devices,
               synthetic=assets.is_synthetic(converted), frame_ops=frame_ops)

  # -- the networks on crops --------------------------------------------------------------

  def encode_source(self, crop256: np.ndarray) -> EncodedSource:
    feature_3d, info, x_s = self.models.crop_encoding(np.asarray(crop256)[None])
    return EncodedSource(crop256, feature_3d, info, x_s)

  def source_features(self, crops256: np.ndarray) -> jnp.ndarray:
    """F of uint8 [n, 256, 256, 3] crops: [n, D, 64, 64, C]."""
    padded, n = batching.pad_to_batch(crops256, self.batch_size)
    return self.models.extract_feature_3d(to_unit(padded))[:n]

  def motion_of_frames(self, crops256) -> dict:
    """Motion (scale, R, exp, t, kp, x_s) of uint8 [n, 256, 256, 3] crops (host or device)."""
    padded, n = batching.pad_to_batch(crops256, self.batch_size)
    info, x_s = self.models.crop_motion(padded)
    out = {k: info[k][:n] for k in MOTION_KEYS + ("kp",)}
    out["x_s"] = x_s[:n]
    return out

  def motion_of_stream(self, crops256) -> dict:
    """Motion [T] of a stream of uint8 256 crops, batch by batch (empty: {})."""
    parts = [self.motion_of_frames(np.stack(batch))
             for batch in batching.batched(crops256, self.batch_size)]
    if not parts:
      return {}
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}

  def driving_chunks(self, driving: DrivingInput, batch_size: int) -> Iterator[DrivingChunk]:
    """The driving input in chunks of `batch_size` frames, with the motion of their crops
    (cropped on the device with frame_ops on it, where `crops256` are device arrays)."""
    on_device = self.frame_ops_on_device and driving.kind == "video"
    matrix = driving.crop_matrix() if on_device else None
    # Decoding (and on the host, cropping) the next frames overlaps the device work on these.
    for chunk in prefetch.prefetch(driving.chunks(batch_size, crop=not on_device), depth=2):
      if chunk.frames is not None:
        frames = jnp.asarray(chunk.frames)
        crops = (paste_ops.driving_crop(frames, matrix) if matrix is not None
                 else cv_resize.resize_linear(frames, (256, 256)))
        chunk = dataclasses.replace(chunk, crops256=crops, frames=None)
      if chunk.motion is None:
        chunk = dataclasses.replace(chunk, motion=self.motion_of_frames(chunk.crops256))
      yield chunk

  # -- animation ----------------------------------------------------------------------------

  def stream(self, source: SourceImage, frames, options: AnimationOptions = AnimationOptions(),
             **kwargs) -> "stream_lib.Stream":
    """Animated frames of `source` driven by any iterator of uint8 RGB frames (a camera, a
    clip), each yielded as soon as it is made, with bounded latency and flat memory:
    `lp_jax.inference.stream.stream(self, source, frames, options, **kwargs)`, whose
    arguments (faces, paste_back, max_batch, queue_size, name) it takes."""
    return stream_lib.stream(self, source, frames, options, **kwargs)

  def animate(self, source: SourceImage | SourceVideo, driving: DrivingInput,
              options: AnimationOptions = AnimationOptions(), *, paste_back: bool = False,
              animal: bool = False) -> Animation:
    """The animation of `source` by `driving` (see the module docstring).

    `paste_back`: results pasted into the source frames (needs their crop matrices);
    `animal`: the official animals pipeline (image source only).
    """
    anim = Animation(iter(()), driving.fps, [])
    if isinstance(source, SourceVideo):
      anim.frames = self._animate_video(source, driving, options, paste_back, anim)
    else:
      anim.frames = self._animate_image(source, driving, options, paste_back, animal, anim)
    return anim

  def _animate_image(self, source: SourceImage, driving: DrivingInput,
                     options: AnimationOptions, paste_back: bool, animal: bool,
                     anim: Animation) -> Iterator[Frame]:
    face = source.face
    enc = self.encode_source(face.crop256)
    on_device = paste_back and self.frame_ops_on_device
    device_paste = self.decoder.paste_into(source.rgb, face.m_c2o) if on_device else None
    finish = finisher(source.rgb, face.m_c2o, paste_back and not on_device)
    x_s, source_ratios = np.asarray(enc.x_s)[0], face.ratios

    def finished(pending, x_d, crops256):
      """The frames of a dispatched batch, pasted back (the device has the next batch)."""
      x_d, crops = np.asarray(x_d), pending.fetch()
      crops256 = None if crops256 is None else np.asarray(crops256)
      results = pending.fetch_pasted() if on_device else map(finish, crops)
      for i, (frame, result) in enumerate(zip(crops, results)):
        yield Frame(result, frame, None if crops256 is None else crops256[i], enc.crop256, x_s,
                    x_d[i])

    def dispatched():
      drv0 = None
      for chunk in self.driving_chunks(driving, self.batch_size):
        motion = {k: jnp.asarray(chunk.motion[k], jnp.float32) for k in MOTION_KEYS}
        if drv0 is None:
          drv0 = first_frame_motion(motion)
        if animal:
          x_d, notes = driving_keypoints.animal_keypoints(self.models, enc.info, enc.x_s,
                                                          motion, options, drv0=drv0), []
        else:
          x_d, notes = driving_keypoints.image_source_keypoints(
              self.models, enc.info, enc.x_s, motion, options,
              driving_is_video=driving.is_video, lip_array=self.lip_array,
              source_ratios=source_ratios, driving_ratios=chunk.ratios, drv0=drv0)
        _add_notes(anim.notes, notes)
        if driving.kind != "template":  # motion only: memory stays flat over a long video
          anim.driving_motion.append(dataclasses.replace(chunk, crops256=None))
        yield (self.decoder.dispatch(enc.feature_3d, enc.x_s, x_d, device_paste), x_d,
               chunk.crops256)

    yield from _one_batch_ahead(dispatched(), finished)

  def _animate_video(self, video: SourceVideo, driving: DrivingInput,
                     options: AnimationOptions, paste_back: bool,
                     anim: Animation) -> Iterator[Frame]:
    # The whole driving motion first (it is smoothed over time); crops are re-read for concat.
    chunks = [dataclasses.replace(c, crops256=None) for c in self.driving_chunks(
        driving, self.batch_size if driving.is_video else 1)]
    drv_motion, drv_ratios = merge_chunks(chunks)
    n_drv = drv_motion["exp"].shape[0] if driving.is_video else None
    src = self.motion_of_stream(face.crop256 for _, face in video.frames(limit=n_drv))
    if not src:
      raise MediaError(f"{video.path}: no usable source frames")
    anim.source_motion = src
    n = src["exp"].shape[0]  # min(source, driving) frames for a driving video
    src_ratios = None if video.ratios is None else Ratios(video.ratios.eye[:n],
                                                          video.ratios.lip[:n])
    per_frame_ratios = None
    if drv_ratios is not None:
      eye, lip = drv_ratios.eye, drv_ratios.lip
      if not driving.is_video:  # one driving image drives every source frame
        eye, lip = np.repeat(eye[:1], n, 0), np.repeat(lip[:1], n, 0)
      per_frame_ratios = Ratios(eye[:n], lip[:n])
    x_d, notes = driving_keypoints.video_source_keypoints(
        self.models, src, src["x_s"], drv_motion, options, driving_is_video=driving.is_video,
        lip_array=self.lip_array, source_ratios=src_ratios, driving_ratios=per_frame_ratios)
    _add_notes(anim.notes, notes)
    x_d, x_s = np.asarray(x_d), np.asarray(src["x_s"])
    if driving.kind != "template":  # the animated driving frames: min(S, D) of a video
      keep = n if driving.is_video else 1
      anim.driving_motion.append(DrivingChunk(
          {k: v[:keep] for k, v in drv_motion.items()}, None,
          None if drv_ratios is None else Ratios(drv_ratios.eye[:keep], drv_ratios.lip[:keep])))
    drv_crops = driving.crops_per_frame()

    on_device = paste_back and self.frame_ops_on_device

    def finished(pending, batch, start):
      crops = pending.fetch()
      results = pending.fetch_pasted() if on_device else [
          finisher(rgb, face.m_c2o, paste_back)(frame) for (rgb, face), frame in zip(batch, crops)]
      for i, ((_, face), frame, result) in enumerate(zip(batch, crops, results)):
        yield Frame(result, frame, next(drv_crops), face.crop256, x_s[start + i], x_d[start + i])

    def dispatched():
      done = 0
      # The next source frames are read and cropped (host) while the device renders these.
      for batch in batching.batched(prefetch.prefetch(video.frames(limit=n), self.batch_size),
                                    self.batch_size):
        crops = np.stack([face.crop256 for _, face in batch])
        frames = slice(done, done + len(batch))
        paste = self.decoder.paste_per_frame(
            np.stack([rgb for rgb, _ in batch]),
            np.stack([face.m_c2o for _, face in batch])) if on_device else None
        yield (self.decoder.dispatch(self.source_features(crops), x_s[frames], x_d[frames],
                                     paste), batch, done)
        done += len(batch)

    yield from _one_batch_ahead(dispatched(), finished)


def _one_batch_ahead(dispatched: Iterator[tuple], finished) -> Iterator[Frame]:
  """`finished(*batch)`'s frames of each batch that `dispatched` started on the device, taken
  only once the next batch is started: the host fetches, pastes and writes a batch while the
  device renders the next."""
  in_flight = None
  for started in dispatched:
    if in_flight is not None:
      yield from finished(*in_flight)
    in_flight = started
  if in_flight is not None:
    yield from finished(*in_flight)


def _add_notes(notes: list, new: list) -> None:
  notes.extend(n for n in new if n not in notes)

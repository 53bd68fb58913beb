# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""W+G over batches of driving frames, sharded over the local devices with NamedSharding.

Every call has the same shapes (the last batch is padded with its final frame), so a video of
any length compiles once. Frames come back as uint8 RGB [n, 512, 512, 3], truncated like the
official `parse_output`, converted on the device so only a quarter of the bytes cross back.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from lp_jax.inference.networks import LivePortraitModels, default_generator_chunk, warp_decode_fn
from lp_jax.ops import batching


def to_uint8(image):
  """[0, 1] float -> uint8 by truncation (the official astype after *255)."""
  return (jnp.clip(image, 0.0, 1.0) * 255.0).astype(jnp.uint8)


def decode_steps(warp_net, gen_net, mesh: Mesh, generator_chunk: int | None) -> dict:
  """{shared: jitted step(warp_vars, gen_vars, f_s, x_s, x_d) -> uint8 frames} on `mesh`.

  Frames are split over the mesh's 'data' axis and the variables replicated; `shared` means
  f_s / x_s have batch 1 (an image source), else one per frame (a video source). lp_jax.aot
  compiles these same programs for GPUs and TPUs.
  """
  frames, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
  decode = functools.partial(warp_decode_fn, warp_net, gen_net, generator_chunk=generator_chunk)

  def step(warp_vars, gen_vars, feature_3d, kp_source, kp_driving):
    return to_uint8(decode(warp_vars, gen_vars, feature_3d, kp_source, kp_driving)["out"])

  return {shared: jax.jit(step, in_shardings=(replicated, replicated,
                                              replicated if shared else frames,
                                              replicated if shared else frames, frames),
                          out_shardings=frames)
          for shared in (True, False)}


class FrameDecoder:
  """Generates frames from (f_s, x_s, x_d) in fixed-size, device-sharded batches."""

  def __init__(self, models: LivePortraitModels, batch_size: int = 8, devices=None):
    devices = list(devices or jax.local_devices())
    self.models = models
    # A batch must split evenly over the devices: round it up to a multiple of their count.
    self.batch_size = -(-max(1, batch_size) // len(devices)) * len(devices)
    self.mesh = Mesh(np.array(devices), ("data",))
    self.replicated = NamedSharding(self.mesh, P())
    # Frame-by-frame generator inside a batch only pays off on one CPU device (see networks).
    chunk = default_generator_chunk() if len(devices) == 1 else None
    (warp_net, warp_vars), (gen_net, gen_vars) = (models.network("warping_module"),
                                                  models.network("spade_generator"))
    self.variables = jax.device_put((warp_vars, gen_vars), self.replicated)
    self._steps = decode_steps(warp_net, gen_net, self.mesh, chunk)

  def _pad(self, x: np.ndarray) -> np.ndarray:
    return batching.pad_to_batch(x, self.batch_size)[0]  # n <= batch_size: one batch

  def __call__(self, feature_3d, kp_source, kp_driving) -> np.ndarray:
    """uint8 frames for up to `batch_size` driving keypoints [n, K, 3].

    `feature_3d` / `kp_source` have batch 1 (shared) or n (one per frame, video source).
    """
    n = kp_driving.shape[0]
    if not 0 < n <= self.batch_size:
      raise ValueError(f"{n} frames do not fit a batch of {self.batch_size}")
    shared = feature_3d.shape[0] == 1 and kp_source.shape[0] == 1
    if shared:
      args = (np.asarray(feature_3d), np.asarray(kp_source))
    else:
      args = (self._pad(np.asarray(feature_3d)), self._pad(np.asarray(kp_source)))
    out = self._steps[shared](*self.variables, *args,
                              self._pad(np.asarray(kp_driving, np.float32)))
    return np.asarray(out)[:n]

  def decode_all(self, feature_3d, kp_source, kp_driving):
    """Yields uint8 frames for every driving keypoint set, one batch at a time."""
    for start in range(0, kp_driving.shape[0], self.batch_size):
      stop = start + self.batch_size
      per_frame = feature_3d.shape[0] > 1
      yield self(feature_3d[start:stop] if per_frame else feature_3d,
                 kp_source[start:stop] if kp_source.shape[0] > 1 else kp_source,
                 kp_driving[start:stop])

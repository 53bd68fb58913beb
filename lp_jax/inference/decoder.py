# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""W+G over batches of driving frames, sharded over the local devices with NamedSharding.

Every call has the same shapes (the last batch is padded with its final frame), so a video of
any length compiles once. Frames come back as uint8 RGB [n, 512, 512, 3], truncated like the
official `parse_output`, converted on the device so only a quarter of the bytes cross back.

With a `DevicePaste`, the same program also pastes each frame back into its source frame
(lp_jax.ops.paste_back: OpenCV's warpAffine and the official blend), so the uint8 results are
all that cross to the host; `PendingFrames` lets the host paste, encode or show earlier frames
while the device renders the next batch.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from lp_jax.inference import programs
from lp_jax.inference.networks import LivePortraitModels, warp_decode_fn
from lp_jax.models import kernels
from lp_jax.ops import paste_back as paste_ops


def to_uint8(image):
  """[0, 1] float -> uint8 by truncation (the official astype after *255)."""
  return (jnp.clip(image, 0.0, 1.0) * 255.0).astype(jnp.uint8)


def decode_steps(warp_net, gen_net, mesh: Mesh, generator_chunk: int | None) -> dict:
  """{shared: jitted step(warp_vars, gen_vars, f_s, x_s, x_d) -> uint8 frames} on `mesh`.

  Frames are split over the mesh's 'data' axis and the variables replicated; `shared` means
  f_s / x_s have batch 1 (an image source), else one per frame (a video source). lp_jax.aot
  compiles these same programs for GPUs and TPUs. The steps are `programs.cached_jit`: a later
  run calls the kept trace instead of tracing W and G again (1.5-2 s before the first frame of
  the demo model on CPU).
  """
  return _steps(warp_net, gen_net, mesh, generator_chunk, paste=False)


def paste_steps(warp_net, gen_net, mesh: Mesh, generator_chunk: int | None) -> dict:
  """{shared: jitted step(warp_vars, gen_vars, f_s, x_s, x_d, frame, m_c2o, mask) -> (uint8
  crops, uint8 frames pasted back)}: decode_steps' program followed by the paste-back.

  `shared`: an image source, whose frame [H, W, 3], crop matrix [3, 3] and warped mask
  [H, W, 3] serve every driving frame (replicated); else a source video, with one frame and
  matrix per driving frame (split like the frames) and the mask warped per frame in the
  program (`mask` None), as the official pipeline warps it per frame.
  """
  return _steps(warp_net, gen_net, mesh, generator_chunk, paste=True)


def _steps(warp_net, gen_net, mesh: Mesh, generator_chunk: int | None, paste: bool) -> dict:
  """decode_steps' programs, or paste_steps' with `paste`."""
  frames, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
  decode = functools.partial(warp_decode_fn, warp_net, gen_net, generator_chunk=generator_chunk)

  def render(warp_vars, gen_vars, feature_3d, kp_source, kp_driving):
    return to_uint8(decode(warp_vars, gen_vars, feature_3d, kp_source, kp_driving)["out"])

  def render_and_paste(warp_vars, gen_vars, feature_3d, kp_source, kp_driving, frame, m_c2o,
                       mask):
    crops = render(warp_vars, gen_vars, feature_3d, kp_source, kp_driving)
    if mask is None:
      mask = paste_ops.frame_mask(m_c2o, (frame.shape[-2], frame.shape[-3]))
    return crops, paste_ops.paste_back(crops, m_c2o, frame, mask)

  def jitted(shared):
    per_source = replicated if shared else frames
    networks_in = (replicated, replicated, per_source, per_source, frames)
    if not paste:
      return programs.cached_jit(render, in_shardings=networks_in, out_shardings=frames)
    paste_in = (per_source, per_source, replicated if shared else None)
    return programs.cached_jit(render_and_paste, in_shardings=networks_in + paste_in,
                               out_shardings=(frames, frames))
  return {shared: jitted(shared) for shared in (True, False)}


@dataclasses.dataclass
class DevicePaste:
  """What the device needs to paste a batch back: the source frame(s) on the device, their crop
  matrices, and the warped mask of a shared frame (None: warped per frame in the program)."""
  frame: jax.Array  # uint8 [H, W, 3] shared, or [batch, H, W, 3]
  m_c2o: jax.Array  # float32 [3, 3] or [batch, 3, 3]
  mask: jax.Array | None  # float32 [H, W, 3] for a shared frame

  @property
  def shared(self) -> bool:
    return self.frame.ndim == 3


def warp_over_devices(warp_net, num_devices: int):
  """W for a batch of frames split over `num_devices`: its final warp's per-frame gathers take
  each device's own frames (`kernels.over_sharded_batch`). Networks without per-frame gathers
  (benchmarks' stand-ins have no forms at all) come back as they are."""
  forms = getattr(warp_net, "forms", None)
  if num_devices > 1 and forms is not None and forms.warp_gather_per_frame:
    return warp_net.clone(forms=kernels.over_sharded_batch(forms, num_devices))
  return warp_net


class FrameDecoder:
  """Generates frames from (f_s, x_s, x_d) in fixed-size, device-sharded batches."""

  def __init__(self, models: LivePortraitModels, batch_size: int = 8, devices=None):
    devices = list(devices or jax.local_devices())
    self.models = models
    # A batch must split evenly over the devices: round it up to a multiple of their count.
    self.batch_size = -(-max(1, batch_size) // len(devices)) * len(devices)
    self.mesh = Mesh(np.array(devices), ("data",))
    self.replicated = NamedSharding(self.mesh, P())
    self.split = NamedSharding(self.mesh, P("data"))  # frames over the devices
    # Frame-by-frame generator inside a batch only pays off on one CPU device (see networks).
    chunk = models.generator_chunk() if len(devices) == 1 else None
    (warp_net, warp_vars), (gen_net, gen_vars) = (models.network("warping_module"),
                                                  models.network("spade_generator"))
    warp_net = warp_over_devices(warp_net, len(devices))
    self.variables = jax.device_put((warp_vars, gen_vars), self.replicated)
    self._steps = decode_steps(warp_net, gen_net, self.mesh, chunk)
    self._paste_steps = paste_steps(warp_net, gen_net, self.mesh, chunk)

  def _pad(self, x) -> jnp.ndarray:
    """[n <= batch_size, ...] padded with its last row to one batch, host or device arrays."""
    n = x.shape[0]
    if n == self.batch_size:
      return x
    return jnp.concatenate([x, jnp.repeat(x[-1:], self.batch_size - n, axis=0)])

  def paste_into(self, frame: np.ndarray, m_c2o: np.ndarray) -> DevicePaste:
    """A source image's paste-back, prepared once: the frame and its warped mask stay on the
    device for every batch."""
    frame = np.asarray(frame, np.uint8)
    m_c2o = np.asarray(m_c2o, np.float32).reshape(3, 3)
    # A concrete matrix: the mask's warp coordinates come from the host's float64, as OpenCV's.
    mask = paste_ops.frame_mask(m_c2o, (frame.shape[1], frame.shape[0]))
    return DevicePaste(*jax.device_put((frame, m_c2o, mask), self.replicated))

  def paste_per_frame(self, frames: np.ndarray, m_c2o: np.ndarray) -> DevicePaste:
    """Source-video frames [n, H, W, 3] and their crop matrices [n, 3, 3], one per driving
    frame of a batch."""
    return DevicePaste(self._pad(np.asarray(frames, np.uint8)),
                       self._pad(np.asarray(m_c2o, np.float32).reshape(-1, 3, 3)), None)

  def dispatch(self, feature_3d, kp_source, kp_driving,
               paste: DevicePaste | None = None) -> "PendingFrames":
    """Starts W+G (and the paste-back, with `paste`) on up to `batch_size` driving keypoints
    [n, K, 3] and returns at once (JAX dispatches asynchronously); the PendingFrames wait for
    the results. Inputs may live on the host or the device.

    `feature_3d` / `kp_source` have batch 1 (shared) or n (one per frame, video source).
    """
    n = kp_driving.shape[0]
    if not 0 < n <= self.batch_size:
      raise ValueError(f"{n} frames do not fit a batch of {self.batch_size}")
    shared = feature_3d.shape[0] == 1 and kp_source.shape[0] == 1
    if paste is not None and not paste.shared:
      shared = False  # a source video's frames, even in a batch of one
    elif paste is not None and not shared:
      raise ValueError("a shared source frame to paste into needs a shared f_s and x_s")
    if not shared:
      feature_3d, kp_source = self._pad(feature_3d), self._pad(kp_source)
    # Device arrays (the keypoints, f_s) move to the program's layout on the mesh; a no-op
    # where they already are.
    per_source = self.replicated if shared else self.split
    args = (*self.variables, *jax.device_put((feature_3d, kp_source), per_source),
            jax.device_put(self._pad(jnp.asarray(kp_driving, jnp.float32)), self.split))
    if paste is None:
      return PendingFrames(self._steps[shared](*args), n)
    crops, pasted = self._paste_steps[shared](*args, paste.frame, paste.m_c2o, paste.mask)
    return PendingFrames(crops, n, pasted)

  def __call__(self, feature_3d, kp_source, kp_driving) -> np.ndarray:
    """uint8 frames [n, 512, 512, 3] for up to `batch_size` driving keypoints (see dispatch)."""
    return self.dispatch(feature_3d, kp_source, kp_driving).fetch()

  def decode_all(self, feature_3d, kp_source, kp_driving):
    """Yields uint8 frames for every driving keypoint set, one batch at a time."""
    for start in range(0, kp_driving.shape[0], self.batch_size):
      stop = start + self.batch_size
      per_frame = feature_3d.shape[0] > 1
      yield self(feature_3d[start:stop] if per_frame else feature_3d,
                 kp_source[start:stop] if kp_source.shape[0] > 1 else kp_source,
                 kp_driving[start:stop])


class PendingFrames:
  """Frames of a dispatched batch, still being computed on the device."""

  def __init__(self, frames: jax.Array, n: int, pasted: jax.Array | None = None):
    self.frames, self.n, self.pasted = frames, n, pasted

  def fetch(self) -> np.ndarray:
    """Waits for the batch and copies its n real frames (uint8 crops) to the host."""
    return np.asarray(self.frames)[:self.n]

  def fetch_pasted(self) -> np.ndarray:
    """The n frames pasted back into their source frames (uint8), from a DevicePaste batch."""
    if self.pasted is None:
      raise ValueError("this batch was dispatched without a DevicePaste")
    return np.asarray(self.pasted)[:self.n]

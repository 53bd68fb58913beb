# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Self-reenactment evaluation: PSNR, SSIM and L1 on held-out clips.

For each held-out clip (lp_jax.data.make_eval_clips) frame 0 is the source; every later frame
drives it with its motion relative to frame 0, as inference drives a source with a video, and
the generated frame is compared with the real one at the data resolution S. Two baselines on the
same frames: the source frame itself (copy-the-source) and the model rendering the source's own
keypoints (no motion). No stitching or retargeting: this measures the base model (F, M, W, G).

The training loop calls `evaluate_config` every config.eval_every steps; `python -m lp_jax.eval`
(`evaluate_workdir`) evaluates a finished or running workdir.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from lp_jax import data
from lp_jax.models import liveportrait
from lp_jax.ops import batching, keypoints, resize
from lp_jax.ops import motion as motion_lib
from lp_jax.training import checkpoint, pretrained
from lp_jax.training.errors import ConfigError
from lp_jax.training.objectives.common import input_sizes

F, M, W, G = liveportrait.BASE_NETWORKS


def network_sizes(network_size) -> tuple[int, int]:
  """(side F sees, side M sees) of `network_size`: one side for both, or a pair."""
  if isinstance(network_size, (tuple, list)):
    return int(network_size[0]), int(network_size[1])
  return int(network_size), int(network_size)


def reenact(modules: dict, variables: dict, source, driving, network_size=256,
            motion: str = "relative"):
  """source [1, S, S, 3], driving [B, S, S, 3] in [0, 1] -> generated [B, S, S, 3].

  F and M see the frames at network_size: one side, or (F's side, M's side) as the loss
  config's network_image_size and motion_image_size. `motion`:
  'relative' drives the source with each frame's motion relative to the source frame, as
  inference does with a driving video whose first frame is the source (ops.motion, relative
  mode); 'none' renders the source's own keypoints (x_d = x_s), the no-motion baseline.
  """
  size = driving.shape[1]
  f_size, m_size = network_sizes(network_size)
  num_kp = modules[M].num_kp
  f_s = modules[F].apply(variables[F], resize.resize(source, f_size))
  info_s = keypoints.with_rotation(keypoints.refine_kp_info(
      modules[M].apply(variables[M], resize.resize(source, m_size)), num_kp))
  x_s = keypoints.apply_motion(info_s["kp"], info_s)
  b = driving.shape[0]
  if motion == "none":
    x_d = jnp.broadcast_to(x_s, (b,) + x_s.shape[1:])
  elif motion == "relative":
    drv = resize.resize(driving, m_size)
    info_d = keypoints.with_rotation(
        keypoints.refine_kp_info(modules[M].apply(variables[M], drv), num_kp))
    x_d = motion_lib.driving_keypoints(info_s, info_d, info_s, relative=True)
  else:
    raise ValueError(f"motion must be 'relative' or 'none', got {motion!r}")
  f_s = jnp.broadcast_to(f_s, (b,) + f_s.shape[1:])
  x_s = jnp.broadcast_to(x_s, x_d.shape)
  warped = modules[W].apply(variables[W], f_s, x_d, x_s)["out"]
  out = modules[G].apply(variables[G], warped)
  return resize.resize(out.astype(jnp.float32), size)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
  x = np.arange(size, dtype=np.float64) - size // 2
  g = np.exp(-x ** 2 / (2 * sigma ** 2))
  return (g / g.sum()).astype(np.float32)


def ssim(a, b, max_val: float = 1.0):
  """Per-image SSIM (Wang et al. 2004: 11x11 Gaussian, sigma 1.5, K1 0.01, K2 0.03, 'valid'
  windows), averaged over channels. a, b: [B, H, W, C] -> [B]."""
  g = jnp.asarray(_gaussian_window())
  c = a.shape[-1]

  def blur(x):  # separable Gaussian, per channel
    k_h = jnp.tile(g.reshape(-1, 1, 1, 1), (1, 1, 1, c))
    k_w = jnp.tile(g.reshape(1, -1, 1, 1), (1, 1, 1, c))
    dn = ("NHWC", "HWIO", "NHWC")
    x = jax.lax.conv_general_dilated(x, k_h, (1, 1), "VALID", dimension_numbers=dn,
                                     feature_group_count=c)
    return jax.lax.conv_general_dilated(x, k_w, (1, 1), "VALID", dimension_numbers=dn,
                                        feature_group_count=c)

  c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
  mu_a, mu_b = blur(a), blur(b)
  var_a = blur(a * a) - mu_a ** 2
  var_b = blur(b * b) - mu_b ** 2
  cov = blur(a * b) - mu_a * mu_b
  s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) *
                                                   (var_a + var_b + c2))
  return jnp.mean(s, axis=(1, 2, 3))


def psnr(a, b, max_val: float = 1.0):
  """[B, H, W, C] -> [B] in dB (capped at 100 dB for identical images)."""
  mse = jnp.mean(jnp.square(a - b), axis=(1, 2, 3))
  return jnp.minimum(10.0 * jnp.log10(max_val ** 2 / jnp.maximum(mse, 1e-10)), 100.0)


def image_metrics(pred, target) -> dict:
  """{'psnr', 'ssim', 'l1'} per image of [B, S, S, 3] frames in [0, 1]."""
  return {"psnr": psnr(pred, target), "ssim": ssim(pred, target),
          "l1": jnp.mean(jnp.abs(pred - target), axis=(1, 2, 3))}


# What each frame is compared with: the model, the source frame itself, the model without motion.
METHODS = ("model", "copy_source", "no_motion")


@functools.partial(jax.jit, static_argnums=(0, 4))
def _frame_metrics(modules_key, variables, source, driving, network_size):
  modules = dict(modules_key)
  model = jnp.clip(reenact(modules, variables, source, driving, network_size), 0.0, 1.0)
  still = jnp.clip(reenact(modules, variables, source, driving, network_size, "none"), 0.0, 1.0)
  copy = jnp.broadcast_to(source, driving.shape)
  return {m: image_metrics(x, driving) for m, x in zip(METHODS, (model, copy, still))}


def clip_metrics(modules: dict, variables: dict, frames, batch_size: int = 4,
                 network_size: int = 256) -> dict:
  """Self-reenactment of one clip (frame 0 is the source, frames 1.. drive it).

  Returns:
    {method: {metric: [per driven frame]}} for METHODS x ('psnr', 'ssim', 'l1').
  """
  variables = {n: variables[n] for n in (F, M, W, G)}
  key = tuple(sorted((n, modules[n]) for n in (F, M, W, G)))
  frames = np.asarray(frames, np.float32)
  source, driving = frames[:1], frames[1:]
  out = {m: {k: [] for k in ("psnr", "ssim", "l1")} for m in METHODS}
  for chunk, n in batching.iter_batches(driving, batch_size):  # one compiled shape
    got = jax.device_get(_frame_metrics(key, variables, source, chunk, network_size))
    for m in METHODS:
      for k in out[m]:
        out[m][k].extend(np.asarray(got[m][k])[:n].tolist())
  return out


def evaluate(modules: dict, variables: dict, clips: list[dict], batch_size: int = 4,
             network_size: int = 256) -> dict:
  """Mean self-reenactment metrics over every driven frame (frames 1..T-1) of `clips`.

  Args:
    modules: {network: Flax module} for F, M, W, G (eval mode).
    variables: {network: variables}; host or device arrays (replicated on this process).
    clips: [{"name", "frames": [T, S, S, 3] float32 in [0, 1]}].
    batch_size: driving frames per jitted call (a fixed shape: the last chunk is padded).
    network_size: the side F and M see (frames are resized to it), or (F's, M's).
  Returns:
    The model's "eval/psnr", "eval/ssim", "eval/l1", the baselines' "eval/copy_source_psnr",
    "eval/no_motion_psnr" (and _ssim, _l1), "eval/frames", and per clip "eval/<name>/psnr".
  """
  totals = {m: {k: [] for k in ("psnr", "ssim", "l1")} for m in METHODS}
  out, count = {}, 0
  for clip in clips:
    per_clip = clip_metrics(modules, variables, clip["frames"], batch_size, network_size)
    for m in METHODS:
      for k, v in per_clip[m].items():
        totals[m][k].extend(v)
    for k, v in per_clip["model"].items():
      out[f"eval/{clip['name']}/{k}"] = float(np.mean(v)) if v else 0.0
    count += len(per_clip["model"]["psnr"])
  for m in METHODS:
    prefix = "eval/" if m == "model" else f"eval/{m}_"
    for k, v in totals[m].items():
      out[prefix + k] = float(np.mean(v)) if v else float("nan")
  out["eval/frames"] = count
  return out


def evaluate_config(config, variables: dict) -> dict:
  """`evaluate` on the held-out clips of `config.data`, with modules built from config.model."""
  clips = data.make_eval_clips(config.data)
  modules = {n: liveportrait.build(n, config.model) for n in (F, M, W, G)}
  return evaluate(modules, variables, clips, config.eval.batch_size,
                  input_sizes(config.loss))


def workdir_networks(config, workdir: str) -> tuple[dict, int]:
  """({network: variables}, step) of the latest checkpoint in `workdir` (or, without one, of
  config.init_from); a Stage II run's frozen base comes from config.init_from.

  Raises:
    ConfigError: neither a base-model checkpoint nor config.init_from.
  """
  if os.path.isdir(os.path.join(workdir, "checkpoints")):
    raw, step = checkpoint.restore_state_only(workdir)
    networks = pretrained.networks_of_state(raw)
  else:
    networks, step = {}, 0
  if any(n not in networks for n in (F, M, W, G)):  # Stage II runs keep the base outside
    if not config.get("init_from"):
      raise ConfigError(f"{workdir}: no base-model checkpoint and no config.init_from")
    base = pretrained.load_pretrained(config.init_from, config.model)
    networks = {**base, **networks}
  return networks, int(step)


def evaluate_workdir(config, workdir: str) -> dict:
  """{"step", "eval/..."} of the latest checkpoint in `workdir` on the config's held-out clips
  (see workdir_networks)."""
  networks, step = workdir_networks(config, workdir)
  return {"step": step, **evaluate_config(config, networks)}


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _generate(modules_key, variables, source, driving, network_size, motion):
  return jnp.clip(reenact(dict(modules_key), variables, source, driving, network_size, motion),
                  0.0, 1.0)


def generate(modules: dict, variables: dict, source, driving, network_size: int = 256,
             motion: str = "relative") -> np.ndarray:
  """The frames `reenact` renders, as a host array [B, S, S, 3] in [0, 1]."""
  key = tuple(sorted((n, modules[n]) for n in (F, M, W, G)))
  variables = {n: variables[n] for n in (F, M, W, G)}
  return np.asarray(jax.device_get(_generate(key, variables, jnp.asarray(source),
                                             jnp.asarray(driving), network_size, motion)))

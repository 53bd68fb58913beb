# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Self-reenactment evaluation: PSNR, SSIM and L1 on held-out clips.

For each held-out clip (lp_jax.data.make_eval_clips) frame 0 is the source; every later frame
drives it (its pose, expression, scale and translation applied to the source's canonical
keypoints, paper Eq. 2) and the generated frame is compared with the real one at the data
resolution S. No stitching or retargeting: this measures the base model (F, M, W, G).

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
from lp_jax.training import checkpoint, pretrained
from lp_jax.training.errors import ConfigError

F, M, W, G = liveportrait.BASE_NETWORKS


def reenact(modules: dict, variables: dict, source, driving, network_size: int = 256):
  """source [1 or B, S, S, 3], driving [B, S, S, 3] in [0, 1] -> generated [B, S, S, 3]; F and
  M see the frames at network_size (the loss config's network_image_size)."""
  size = driving.shape[1]
  src = resize.resize(source, network_size)
  drv = resize.resize(driving, network_size)
  num_kp = modules[M].num_kp
  f_s = modules[F].apply(variables[F], src)
  info_s = keypoints.refine_kp_info(modules[M].apply(variables[M], src), num_kp)
  info_d = keypoints.with_rotation(
      keypoints.refine_kp_info(modules[M].apply(variables[M], drv), num_kp))
  x_s = keypoints.transform_kp_info(info_s)
  x_d = keypoints.apply_motion(jnp.broadcast_to(info_s["kp"], info_d["kp"].shape), info_d)
  b = driving.shape[0]
  f_s = jnp.broadcast_to(f_s, (b,) + f_s.shape[1:])
  x_s = jnp.broadcast_to(x_s, x_d.shape)
  warped = modules[W].apply(variables[W], f_s, x_d, x_s)["out"]
  out = modules[G].apply(variables[G], warped)  # [B, 512, 512, 3]
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


@functools.partial(jax.jit, static_argnums=(0, 4))
def _frame_metrics(modules_key, variables, source, driving, network_size):
  modules = dict(modules_key)
  pred = jnp.clip(reenact(modules, variables, source, driving, network_size), 0.0, 1.0)
  return {"psnr": psnr(pred, driving), "ssim": ssim(pred, driving),
          "l1": jnp.mean(jnp.abs(pred - driving), axis=(1, 2, 3))}


def evaluate(modules: dict, variables: dict, clips: list[dict], batch_size: int = 4,
             network_size: int = 256) -> dict:
  """Mean self-reenactment metrics over every driven frame (frames 1..T-1) of `clips`.

  Args:
    modules: {network: Flax module} for F, M, W, G (eval mode).
    variables: {network: variables}; host or device arrays (replicated on this process).
    clips: [{"name", "frames": [T, S, S, 3] float32 in [0, 1]}].
    batch_size: driving frames per jitted call (a fixed shape: the last chunk is padded).
    network_size: the side F and M see (frames are resized to it).
  Returns:
    {"eval/psnr", "eval/ssim", "eval/l1", "eval/frames"} and per clip "eval/<name>/psnr".
  """
  variables = {n: variables[n] for n in (F, M, W, G)}
  key = tuple(sorted((n, modules[n]) for n in (F, M, W, G)))
  totals, out, count = {"psnr": [], "ssim": [], "l1": []}, {}, 0
  for clip in clips:
    frames = np.asarray(clip["frames"], np.float32)
    source, driving = frames[:1], frames[1:]
    per_clip = {k: [] for k in totals}
    for chunk, n in batching.iter_batches(driving, batch_size):  # one compiled shape
      m = jax.device_get(_frame_metrics(key, variables, source, chunk, network_size))
      for k in totals:
        per_clip[k].extend(np.asarray(m[k])[:n].tolist())
    for k in totals:
      totals[k].extend(per_clip[k])
      out[f"eval/{clip['name']}/{k}"] = float(np.mean(per_clip[k])) if per_clip[k] else 0.0
    count += len(driving)
  for k, v in totals.items():
    out[f"eval/{k}"] = float(np.mean(v)) if v else float("nan")
  out["eval/frames"] = count
  return out


def evaluate_config(config, variables: dict) -> dict:
  """`evaluate` on the held-out clips of `config.data`, with modules built from config.model."""
  clips = data.make_eval_clips(config.data)
  modules = {n: liveportrait.build(n, config.model) for n in (F, M, W, G)}
  return evaluate(modules, variables, clips, config.eval.batch_size,
                  int(config.loss.get("network_image_size", 256)))


def evaluate_workdir(config, workdir: str) -> dict:
  """{"step", "eval/..."} of the latest checkpoint in `workdir` (or, without one, of
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
  return {"step": int(step), **evaluate_config(config, networks)}

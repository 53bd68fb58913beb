# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The loss terms of LivePortrait's Stage I objective (paper Sec. 3.2; face-vid2vid conventions).

Pure jnp functions of arrays (and of an auxiliary network's apply function for the perceptual
loss); each returns a float32 scalar. Targets are stop-gradient'ed inside, so a loss never pushes
the ground truth or the real branch of a discriminator.

Discriminator outputs (lp_jax.models.auxiliary.discriminator) are a list over scales of (list of
intermediate feature maps, logits map [B, h, w, 1]); the GAN functions also accept a plain list
of logits.
"""

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lp_jax.models.auxiliary import arcface
from lp_jax.ops import resize
from lp_jax.training import streams, transforms
from lp_jax.training.errors import ConfigError

sg = jax.lax.stop_gradient


def _mean_abs(a, b):
  return jnp.mean(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32)))


def pixel_loss(pred, target, scales: Sequence[float] = (1, 0.5, 0.25)):
  """Mean L1 over an image pyramid (the perceptual pyramid with the identity as its one feature
  map): the image term when no pretrained VGG-19 is at hand."""
  return perceptual_loss(lambda x: [x], pred, target, scales, (1.0,))


def perceptual_loss(vgg_fn: Callable, pred, target, scales: Sequence[float] = (1, 0.5, 0.25, 0.125),
                    layer_weights: Sequence[float] = (1, 1, 1, 1, 1)):
  """Cascaded perceptual loss: sum over image scales and VGG layers of weighted mean L1.

  Args:
    vgg_fn: images [N, h, w, 3] in [0, 1] -> sequence of feature maps (relu1_1 ... relu5_1).
    pred, target: [B, H, W, 3] in [0, 1].
    scales: image pyramid factors; each level is the bilinear, antialiased resize of the input.
    layer_weights: weight of each feature map (face-vid2vid uses 1 each times an overall 10).

  Returns:
    scalar sum_s sum_l w_l * mean |vgg_l(pred_s) - vgg_l(target_s)|.
  """
  _, h, w, _ = pred.shape
  total = jnp.float32(0)
  for s in scales:
    size = (max(1, int(round(h * s))), max(1, int(round(w * s))))
    # One pass over prediction and target together: half the calls, same features.
    feats = vgg_fn(streams.interleave(resize.resize(pred, size), resize.resize(sg(target), size)))
    for weight, f in zip(layer_weights, feats):
      if weight:
        f_pred, f_target = streams.deinterleave(f, 2)
        total = total + weight * _mean_abs(f_pred, sg(f_target))
  return total


def _logits(outputs):
  """Logit maps of discriminator outputs (a list of (features, logits) or of logits)."""
  return [o[1] if isinstance(o, (tuple, list)) else o for o in outputs]


def gan_generator_loss(fake_outputs, mode: str = "ls"):
  """Generator side, summed over scales: 'ls' mean (1 - D(G))^2, 'hinge' -mean D(G)."""
  total = jnp.float32(0)
  for logits in _logits(fake_outputs):
    logits = logits.astype(jnp.float32)
    if mode == "ls":
      total = total + jnp.mean(jnp.square(1 - logits))
    elif mode == "hinge":
      total = total - jnp.mean(logits)
    else:
      raise ConfigError(f"unknown GAN mode {mode!r} (use 'ls' or 'hinge')")
  return total


def gan_discriminator_loss(real_outputs, fake_outputs, mode: str = "ls"):
  """Discriminator side, summed over scales.

  'ls': mean (1 - D(x))^2 + mean D(G)^2; 'hinge': mean relu(1 - D(x)) + mean relu(1 + D(G)).
  """
  total = jnp.float32(0)
  for real, fake in zip(_logits(real_outputs), _logits(fake_outputs)):
    real, fake = real.astype(jnp.float32), fake.astype(jnp.float32)
    if mode == "ls":
      total = total + jnp.mean(jnp.square(1 - real)) + jnp.mean(jnp.square(fake))
    elif mode == "hinge":
      total = total + jnp.mean(jax.nn.relu(1 - real)) + jnp.mean(jax.nn.relu(1 + fake))
    else:
      raise ConfigError(f"unknown GAN mode {mode!r} (use 'ls' or 'hinge')")
  return total


def feature_matching_loss(real_outputs, fake_outputs):
  """Sum over scales and intermediate maps of mean |D_l(G) - D_l(x)| (real side frozen)."""
  total = jnp.float32(0)
  for (real_feats, _), (fake_feats, _) in zip(real_outputs, fake_outputs):
    for r, f in zip(real_feats, fake_feats):
      total = total + _mean_abs(f, sg(r))
  return total


def equivariance_loss(kp, kp_warped, tps: transforms.TPS):
  """Mean |x_d - T(x_w)| over the x, y of keypoints.

  Args:
    kp: [B, K, >=2] keypoints of the image.
    kp_warped: [B, K, >=2] keypoints of the image warped by `tps` (see transforms.warp_images).
    tps: the warp; T(p) is where a point p of the warped image sits in the original.
  """
  return _mean_abs(kp[..., :2], transforms.warp_points(tps, kp_warped[..., :2]))


def keypoint_prior_loss(kp, distance: float = 0.1, depth: float = 0.33):
  """face-vid2vid keypoint prior: spread the keypoints and pin their mean depth.

  Per sample: sum over ordered pairs i != j of max(0, distance - |x_i - x_j|^2) (squared 3-D
  distance, as face-vid2vid) plus |mean_k z_k - depth|; mean over the batch. face-vid2vid also
  sums the i = j pairs, which only adds the constant K * distance; they are left out here.

  Args:
    kp: [B, K, 3] keypoints.
  """
  kp = kp.astype(jnp.float32)
  sq = jnp.sum(jnp.square(kp[:, :, None] - kp[:, None]), axis=-1)  # [B, K, K]
  off_diag = 1.0 - jnp.eye(kp.shape[1], dtype=jnp.float32)
  spread = jnp.sum(jax.nn.relu(distance - sq) * off_diag, axis=(1, 2))
  depth_term = jnp.abs(jnp.mean(kp[..., 2], axis=1) - depth)
  return jnp.mean(spread + depth_term)


def head_pose_loss(pred_degrees, target_degrees):
  """Mean over the batch of the summed |angle error| in degrees; [B, 3] (yaw, pitch, roll)."""
  err = jnp.abs(pred_degrees.astype(jnp.float32) - sg(target_degrees).astype(jnp.float32))
  return jnp.mean(jnp.sum(err, axis=-1))


def deformation_prior_loss(*deltas):
  """Mean |delta| of expression deformations [B, K, 3] (several: averaged)."""
  return sum(jnp.mean(jnp.abs(d.astype(jnp.float32))) for d in deltas) / len(deltas)


def identity_loss(embedding, target_embedding, eps: float = 1e-8):
  """Mean (1 - cosine) of [B, D] embeddings; the target side is frozen."""
  return jnp.mean(1.0 - arcface.cosine_similarity(embedding, sg(target_embedding), eps))


def wing(x, w: float = 10.0, eps: float = 2.0):
  """Elementwise Wing function (Feng et al. 2018): log near zero, L1 (shifted) beyond w."""
  ax = jnp.abs(x)
  c = w - w * np.log(1.0 + w / eps)  # makes the two pieces meet at |x| = w
  return jnp.where(ax < w, w * jnp.log1p(ax / eps), ax - c)


def wing_loss(pred, target, w: float = 10.0, eps: float = 2.0, mask=None):
  """Wing loss of points: sum over coordinates, mean over points and (masked) samples.

  Args:
    pred, target: [B, N, 2] points in the same (pixel) units as w and eps.
    mask: optional [B] bool/float; samples with 0 contribute nothing. All-zero -> 0.
  """
  per_sample = jnp.mean(jnp.sum(wing(pred.astype(jnp.float32) - sg(target).astype(jnp.float32),
                                     w, eps), axis=-1), axis=-1)  # [B]
  if mask is None:
    return jnp.mean(per_sample)
  mask = jnp.asarray(mask, jnp.float32)
  return jnp.sum(per_sample * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def masked_l1(pred, target, mask):
  """Mean |pred - target| * mask over all entries ([B, H, W, C] with a [B, H, W, 1] mask)."""
  return jnp.mean(jnp.abs(pred.astype(jnp.float32) - sg(target).astype(jnp.float32)) * mask)

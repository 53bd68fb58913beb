# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Dense motion network: keypoints -> dense 3-D deformation and occlusion map."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from lp_jax.models import kernels, util
from lp_jax.models.appearance_feature_extractor import volume_to_channels
from lp_jax.ops import keypoints
from lp_jax.ops.grid_sample import grid_sample, separable_grid_sample


def sparse_motions(spatial_size, kp_driving, kp_source) -> jax.Array:
  """[B, K+1, D, H, W, 3]: the identity grid (background) then grid - x_d[k] + x_s[k]."""
  grid = keypoints.make_coordinate_grid(spatial_size)  # [D, H, W, 3]
  b = kp_driving.shape[0]
  # Translation-only motion per keypoint (no Jacobian term), in the official order of ops.
  expand = lambda kp: kp[:, :, None, None, None, :]
  motion = grid[None, None] - expand(kp_driving) + expand(kp_source)
  background = jnp.broadcast_to(grid, (b, 1) + grid.shape)
  return jnp.concatenate([background, motion], axis=1)


def sparse_motion_axes(spatial_size, kp_driving, kp_source) -> tuple:
  """`sparse_motions` per axis: ([B, K+1, D] z, [B, K+1, H] y, [B, K+1, W] x).

  Each sparse motion is the identity grid shifted by a constant, so its coordinate along an
  axis depends on that axis' index alone; computed in the same order of ops, the values equal
  those of `sparse_motions` bit for bit.
  """
  out = []
  for n, a in zip(spatial_size, (2, 1, 0)):  # (D, H, W) take z, y, x
    axis = keypoints.coordinate_axis(n)[None, None]  # [1, 1, n]
    motion = axis - kp_driving[:, :, a, None] + kp_source[:, :, a, None]  # [B, K, n]
    background = jnp.broadcast_to(axis, (kp_driving.shape[0], 1, n))
    out.append(jnp.concatenate([background, motion], axis=1))
  return tuple(out)


def deform_input(feature, kp_driving, kp_source, separable: bool) -> jax.Array:
  """f [B, D, H, W, C] sampled at the K+1 sparse motions: [B, K+1, D, H, W, C].

  `separable`: three einsums per frame (`separable_grid_sample`); else one gather per corner
  over all K+1 grids, as the official grid_sample.
  """
  b, d, h, w, c = feature.shape
  if separable:
    return separable_grid_sample(feature, sparse_motion_axes((d, h, w), kp_driving, kp_source))
  motion = sparse_motions((d, h, w), kp_driving, kp_source)  # [B, K+1, D, H, W, 3]
  k1 = motion.shape[1]
  # All K+1 warps as one gather: the grids stacked along depth.
  deformed = grid_sample(feature, motion.reshape(b, k1 * d, h, w, 3))
  return deformed.reshape(b, k1, d, h, w, c)


class DenseMotionNetwork(nn.Module):
  """f_s [B, D, H, W, C] and keypoints -> deformation [B, D, H, W, 3], occlusion [B, H, W, 1]."""
  block_expansion: int = 32
  num_blocks: int = 5
  max_features: int = 1024
  num_kp: int = 21
  feature_channel: int = 32
  reshape_depth: int = 16
  compress: int = 4
  estimate_occlusion_map: bool = True
  dtype: util.Dtype = jnp.float32
  forms: kernels.KernelForms = kernels.forms_field()

  @nn.compact
  def __call__(self, feature, kp_driving, kp_source, train: bool = False):
    b, d, h, w, _ = feature.shape
    k1 = self.num_kp + 1
    feature = util.conv(self.compress, 1, ndim=3, forms=self.forms, dtype=self.dtype,
                        name="compress")(feature)
    feature = nn.relu(util.batch_norm(train, self.dtype, name="norm")(feature))

    deformed = deform_input(feature, kp_driving, kp_source,
                            self.forms.separable_sparse_motion)  # [B, K+1, D, H, W, compress]

    heatmap = (keypoints.kp2gaussian(kp_driving, (d, h, w)) -
               keypoints.kp2gaussian(kp_source, (d, h, w)))  # [B, K, D, H, W]
    heatmap = jnp.concatenate([jnp.zeros_like(heatmap[:, :1]), heatmap], axis=1)
    # Hourglass input channel order: ch = k * (1 + compress) + j, heatmap first (j = 0).
    x = jnp.concatenate([heatmap[..., None].astype(deformed.dtype), deformed], axis=-1)
    x = x.transpose(0, 2, 3, 4, 1, 5).reshape(b, d, h, w, k1 * (1 + self.compress))

    prediction = util.Hourglass(self.block_expansion, k1 * (self.compress + 1), self.num_blocks,
                                self.max_features, self.dtype, self.forms,
                                name="hourglass")(x, train)
    mask = util.conv(k1, 7, ndim=3, padding=3, forms=self.forms, dtype=self.dtype,
                     name="mask")(prediction)
    mask = jax.nn.softmax(mask.astype(jnp.float32), axis=-1)  # [B, D, H, W, K+1]
    motion = sparse_motions((d, h, w), kp_driving, kp_source)  # [B, K+1, D, H, W, 3]
    deformation = jnp.einsum("bdhwk,bkdhwc->bdhwc", mask, motion,
                             precision=jax.lax.Precision.HIGHEST)
    out = {"mask": mask, "deformation": deformation}
    if self.estimate_occlusion_map:
      flat = volume_to_channels(prediction)  # [B, H, W, C * D]
      occlusion = util.conv(1, 7, padding=3, forms=self.forms, dtype=self.dtype,
                            name="occlusion")(flat)
      out["occlusion_map"] = jax.nn.sigmoid(occlusion.astype(jnp.float32))
    return out

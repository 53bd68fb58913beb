# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Dense motion network: keypoints -> dense 3-D deformation and occlusion map."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from lp_jax.models import kernels, util
from lp_jax.models.appearance_feature_extractor import volume_to_channels
from lp_jax.ops import keypoints
from lp_jax.ops.grid_sample import grid_sample


def sparse_motions(spatial_size, kp_driving, kp_source) -> jax.Array:
  """[B, K+1, D, H, W, 3]: the identity grid (background) then grid - x_d[k] + x_s[k]."""
  grid = keypoints.make_coordinate_grid(spatial_size)  # [D, H, W, 3]
  b = kp_driving.shape[0]
  # Translation-only motion per keypoint (no Jacobian term), in the official order of ops.
  expand = lambda kp: kp[:, :, None, None, None, :]
  motion = grid[None, None] - expand(kp_driving) + expand(kp_source)
  background = jnp.broadcast_to(grid, (b, 1) + grid.shape)
  return jnp.concatenate([background, motion], axis=1)


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

  @nn.compact
  def __call__(self, feature, kp_driving, kp_source, train: bool = False):
    b, d, h, w, _ = feature.shape
    k1 = self.num_kp + 1
    feature = util.conv(self.compress, 1, ndim=3, dtype=self.dtype, name="compress")(feature)
    feature = nn.relu(util.batch_norm(train, self.dtype, name="norm")(feature))

    motion = sparse_motions((d, h, w), kp_driving, kp_source)  # [B, K+1, D, H, W, 3]
    # All K+1 warps of the compressed volume as one gather: stack the grids along depth.
    deformed = grid_sample(feature, motion.reshape(b, k1 * d, h, w, 3))
    deformed = deformed.reshape(b, k1, d, h, w, self.compress)

    heatmap = (keypoints.kp2gaussian(kp_driving, (d, h, w)) -
               keypoints.kp2gaussian(kp_source, (d, h, w)))  # [B, K, D, H, W]
    heatmap = jnp.concatenate([jnp.zeros_like(heatmap[:, :1]), heatmap], axis=1)
    # Hourglass input channel order: ch = k * (1 + compress) + j, heatmap first (j = 0).
    x = jnp.concatenate([heatmap[..., None].astype(deformed.dtype), deformed], axis=-1)
    x = x.transpose(0, 2, 3, 4, 1, 5).reshape(b, d, h, w, k1 * (1 + self.compress))

    prediction = util.Hourglass(self.block_expansion, k1 * (self.compress + 1), self.num_blocks,
                                self.max_features, self.dtype, name="hourglass")(x, train)
    mask = util.conv(k1, 7, ndim=3, padding=3, dtype=self.dtype, name="mask")(prediction)
    mask = jax.nn.softmax(mask.astype(jnp.float32), axis=-1)  # [B, D, H, W, K+1]
    deformation = jnp.einsum("bdhwk,bkdhwc->bdhwc", mask, motion,
                             precision=jax.lax.Precision.HIGHEST)
    out = {"mask": mask, "deformation": deformation}
    if self.estimate_occlusion_map:
      flat = volume_to_channels(prediction)  # [B, H, W, C * D]
      if kernels.forms_of(self).occlusion_taps:
        occlusion = util.TapsConv2d(1, 7, 3, self.dtype, name="occlusion")(flat)
      else:  # the plain conv: same variables (kernel [7, 7, C * D, 1], bias [1])
        occlusion = util.conv(1, 7, padding=3, dtype=self.dtype, name="occlusion")(flat)
      out["occlusion_map"] = jax.nn.sigmoid(occlusion.astype(jnp.float32))
    return out

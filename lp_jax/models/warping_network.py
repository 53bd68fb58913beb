# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Warping module W: warps the source feature volume to the driving keypoints."""

import flax.linen as nn
import jax.numpy as jnp

from lp_jax.models import kernels, util
from lp_jax.models.appearance_feature_extractor import volume_to_channels
from lp_jax.models.dense_motion import DenseMotionNetwork
from lp_jax.ops.grid_sample import grid_sample


class WarpingNetwork(nn.Module):
  """(f_s [B, D, H, W, 32], x_s, x_d [B, K, 3]) -> {'out' [B, H, W, 256], 'occlusion_map'
  [B, H, W, 1], 'deformation' [B, D, H, W, 3]}."""
  num_kp: int = 21
  block_expansion: int = 64
  max_features: int = 512
  num_down_blocks: int = 2
  reshape_channel: int = 32
  estimate_occlusion_map: bool = True
  dense_motion_params: tuple = ()  # ((name, value), ...) of DenseMotionNetwork fields
  flag_use_occlusion_map: bool = True
  dtype: util.Dtype = jnp.float32
  forms: kernels.KernelForms = kernels.forms_field()  # liveportrait.build sets the platform's

  @nn.compact
  def __call__(self, feature_3d, kp_driving, kp_source, train: bool = False):
    dense = DenseMotionNetwork(num_kp=self.num_kp, feature_channel=self.reshape_channel,
                               estimate_occlusion_map=self.estimate_occlusion_map,
                               dtype=self.dtype, forms=self.forms,
                               **dict(self.dense_motion_params),
                               name="dense_motion_network")(feature_3d, kp_driving, kp_source,
                                                            train)
    warped = grid_sample(feature_3d, dense["deformation"], self.forms.warp_gather_per_frame,
                         self.forms.batch_shards)  # [B, D, H, W, C]
    out = volume_to_channels(warped)  # [B, H, W, C * D], ch = c * D + d
    out = util.SameBlock2d(self.max_features // 2, lrelu=True, dtype=self.dtype,
                           forms=self.forms, name="third")(out, train)
    out = util.conv(self.max_features // 2, 1, forms=self.forms, dtype=self.dtype,
                    name="fourth")(out)
    occlusion = dense.get("occlusion_map")
    if occlusion is not None and self.flag_use_occlusion_map:
      out = out * occlusion.astype(out.dtype)
    return {"out": out, "occlusion_map": occlusion, "deformation": dense["deformation"]}

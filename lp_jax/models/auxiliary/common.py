# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Layers shared by the pretrained auxiliary networks (HopeNet, ArcFace)."""

from lp_jax.models import util


def frozen_batch_norm(dtype, name: str):
  """BatchNorm on the checkpoint's running statistics: these estimators are never trained."""
  return util.batch_norm(False, dtype, name=name)

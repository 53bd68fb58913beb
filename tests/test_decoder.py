# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Sharded, fixed-shape batches of W+G: 8 CPU devices give the frames of 1 device."""

import jax
import numpy as np
import pytest

from lp_jax_configs import models as model_configs
from lp_jax.inference.decoder import FrameDecoder
from lp_jax.inference.networks import LivePortraitModels
from lp_jax.models import liveportrait

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def micro_models():
  config = model_configs.get_config("micro")
  variables = {n: liveportrait.random_variables(n, config, i)
               for i, n in enumerate(("warping_module", "spade_generator"))}
  return LivePortraitModels(variables, config)


def test_eight_devices_equal_one(micro_models):
  assert jax.local_device_count() == 8  # conftest's fake CPU devices
  rng = np.random.default_rng(0)
  f_s = rng.standard_normal((1, 4, 64, 64, 16)).astype(np.float32)  # the tiny and micro volume
  x_s = rng.uniform(-0.5, 0.5, (1, 21, 3)).astype(np.float32)
  x_d = (x_s + rng.normal(0, 0.05, (11, 21, 3))).astype(np.float32)  # 11: a padded last batch
  one = FrameDecoder(micro_models, batch_size=8, devices=jax.local_devices()[:1])
  eight = FrameDecoder(micro_models, batch_size=8)
  assert eight.batch_size == 8 and eight.mesh.devices.size == 8
  a = np.concatenate(list(one.decode_all(f_s, x_s, x_d)))
  b = np.concatenate(list(eight.decode_all(f_s, x_s, x_d)))
  assert a.shape == b.shape == (11, 512, 512, 3) and a.dtype == np.uint8
  diff = np.abs(a.astype(int) - b.astype(int))
  # Same math per frame; only float summation order may differ (1 device maps the generator
  # frame by frame, 8 devices run one frame each; the Winograd and FFT convs' GEMMs span the
  # batch), which the uint8 truncation turns into one-level steps: none with the micro networks,
  # about one value in a thousand with the wider tiny ones (4.9e-4 direct convs, 1.1e-3 CPU forms).
  assert diff.max() <= 1 and (diff > 0).mean() < 3e-3
  # The padded tail does not leak: frame 10 decoded alone equals frame 10 of the batch.
  alone = one(f_s, x_s, x_d[10:11])
  assert np.array_equal(alone[0], a[10])


def test_per_frame_sources_and_batch_rounding(micro_models):
  rng = np.random.default_rng(1)
  dec = FrameDecoder(micro_models, batch_size=5)  # rounded up to a multiple of 8 devices
  assert dec.batch_size == 8
  f_s = rng.standard_normal((3, 4, 64, 64, 16)).astype(np.float32)
  x_s = rng.uniform(-0.5, 0.5, (3, 21, 3)).astype(np.float32)
  out = dec(f_s, x_s, x_s)
  shared = dec(f_s[1:2], x_s[1:2], x_s[1:2])
  assert out.shape == (3, 512, 512, 3)
  assert np.abs(out[1].astype(int) - shared[0].astype(int)).max() <= 1
  with pytest.raises(ValueError, match="do not fit"):
    dec(f_s[:1], x_s[:1], np.zeros((9, 21, 3), np.float32))

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Media basics: probing, streaming reads, resize_to_limit, audio choice, aborted writes."""

import os

import numpy as np
import pytest

from conftest import SHARED
from lp_jax.io import media

DRIVING = os.path.join(SHARED, "assets", "driving")


def test_media_probe_and_limits(tmp_path):
  d0 = media.probe_video(os.path.join(DRIVING, "d0.mp4"))
  d11 = media.probe_video(os.path.join(DRIVING, "d11.mp4"))
  assert (d0.fps_int, d0.width, d0.height, d0.has_audio) == (25, 512, 512, False)
  assert d11.has_audio and d11.is_square
  frames = list(media.VideoReader(os.path.join(DRIVING, "d0.mp4"), max_frames=5))
  assert len(frames) == 5 and frames[0].shape == (512, 512, 3)
  img = np.zeros((1501, 901, 3), np.uint8)
  out = media.resize_to_limit(img, 1280, 2)
  assert out.shape[0] == 1280 and out.shape[1] % 2 == 0 and out.shape[1] == 768
  assert media.choose_audio_source(os.path.join(DRIVING, "d11.mp4"), None, "source") \
      .endswith("d11.mp4")
  w = media.VideoWriter(str(tmp_path / "x.mp4"), 25)
  w.write(frames[0])
  w.abort()
  assert os.listdir(tmp_path) == []  # an aborted write leaves nothing
  with pytest.raises(media.MediaError, match="unknown input type"):
    media.classify(__file__)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`--frame_ops device`: the paste-back in the W+G program and the driving crop on the device
give the frames of the OpenCV path (`--frame_ops host`), through `LivePortrait.animate` on the
bundled demo model, a real clip and a portrait pasted into a 1280x720 frame."""

import dataclasses

import numpy as np
import pytest

from lp_jax import bench_e2e
from lp_jax.inference import assets, driving_stream
from lp_jax.inference.faces import FaceStage, SourceFace
from lp_jax.inference.options import AnimationOptions
from lp_jax.inference.pipeline import LivePortrait, SourceImage
from lp_jax.preprocess import crop as crop_lib

FRAMES = 6  # two batches of 4: the second is padded, and dispatched while the first is pasted


@pytest.fixture(scope="module")
def source():
  frame, box = bench_e2e.source_frame(bench_e2e.os.path.join(bench_e2e.DEMO, "s12_crop.jpg"),
                                      (1280, 720))
  cropped = crop_lib.crop_image_by_bbox(frame, box, dsize=512)
  face = SourceFace(crop_lib.resize_area(cropped["img_crop"]), m_c2o=cropped["M_c2o"],
                    m_o2c=cropped["M_o2c"])
  return SourceImage(frame, face)


def driving(crop_box=None):
  drv = driving_stream.prepare(bench_e2e.os.path.join(bench_e2e.DEMO, "d0.mp4"), "video",
                               AnimationOptions(), FaceStage(None, "no face models"),
                               max_frames=FRAMES)
  # A crop box as the face models would fix it: the device warps the frames to 512 first.
  return dataclasses.replace(drv, crop_box=crop_box)


@pytest.fixture(scope="module")
def pipes():
  return {ops: LivePortrait.from_pretrained(assets.DEMO_MODEL, batch_size=4, frame_ops=ops)
          for ops in ("host", "device")}


@pytest.mark.parametrize("crop_box", [None, np.array([40.5, 22.25, 470.0, 451.75])],
                         ids=["resized", "cropped"])
def test_device_frame_ops_give_the_opencv_frames(source, pipes, crop_box):
  assert not pipes["host"].frame_ops_on_device and pipes["device"].frame_ops_on_device
  runs = {ops: list(pipe.animate(source, driving(crop_box), paste_back=True))
          for ops, pipe in pipes.items()}
  host, device = runs["host"], runs["device"]
  assert len(host) == len(device) == FRAMES
  for h, d in zip(host, device):
    np.testing.assert_array_equal(d.driving256, h.driving256)  # the driving crop
    np.testing.assert_array_equal(d.crop, h.crop)
    assert d.result.shape == (720, 1280, 3)
    np.testing.assert_array_equal(d.result, h.result)  # the paste-back
  # The pasted face moves with the driving clip; the frame outside it is the source's.
  assert not np.array_equal(host[0].result, host[-1].result)
  np.testing.assert_array_equal(host[0].result[:, :100], source.rgb[:, :100])


def test_auto_follows_the_backend_and_bad_names_fail():
  pipe = LivePortrait.from_pretrained(assets.DEMO_MODEL, batch_size=1)
  assert pipe.frame_ops_on_device is False  # CPU: OpenCV's paste-back is the faster there
  with pytest.raises(ValueError, match="frame_ops 'gpu'"):
    LivePortrait.from_pretrained(assets.DEMO_MODEL, batch_size=1, frame_ops="gpu")

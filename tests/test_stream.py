# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The streaming API (lp_jax.inference.stream) on the bundled demo model and real clips: it gives
the frames `LivePortrait.animate` gives for the same clip, yields each frame before asking for
the next one, stops its reader thread when closed, and refuses bad frames in one line."""

import itertools
import os
import threading
import time

import jax
import numpy as np
import pytest

import face_standins
from conftest import SHARED
from lp_jax.demo import DEMO_SOURCE
from lp_jax.inference import assets
from lp_jax.inference import driving_stream
from lp_jax.inference import stream as stream_lib
from lp_jax.inference.faces import FaceStage, Track, crop_driving
from lp_jax.inference.options import AnimationOptions
from lp_jax.inference.pipeline import LivePortrait, SourceImage
from lp_jax.io import images
from lp_jax.io.errors import MediaError
from lp_jax.io.video_reader import VideoReader

D0 = os.path.join(SHARED, "assets", "driving", "d0.mp4")
S13 = os.path.join(SHARED, "assets", "source", "s13.mp4")  # 720x1080: a non-square driver
N = 5  # driving frames per comparison (a padded last batch of 2)
NO_FACES = FaceStage(None, "no face models in this test")


def _frames(path, n):
  with VideoReader(path, max_frames=n) as reader:
    return list(reader)


@pytest.fixture(scope="module")
def pipe():
  # One device and batch 1: the pipeline's own W+G calls have the shape of a 1-frame stream.
  return LivePortrait.from_pretrained(assets.DEMO_MODEL, batch_size=1,
                                      devices=jax.local_devices()[:1])


@pytest.fixture(scope="module")
def source():
  rgb = images.read_image(DEMO_SOURCE)
  return SourceImage(rgb, NO_FACES.source_image(rgb, DEMO_SOURCE, do_crop=False))


@pytest.fixture(scope="module")
def d0_frames():
  return _frames(D0, N)


def _animate(pipe, source, path, faces=NO_FACES, n=N):
  driving = driving_stream.prepare(path, "video", AnimationOptions(), faces, max_frames=n)
  return list(pipe.animate(source, driving))


def _reader_threads():
  return [t for t in threading.enumerate() if t.name == stream_lib.READER_THREAD]


def test_frames_are_checked_in_one_line():
  ok = np.zeros((4, 6, 3), np.uint8)
  assert stream_lib.check_frame(ok, "cam", 0) is ok
  tail = ", expected uint8 RGB [H, W, 3]"
  bad = [(np.zeros((4, 4, 3), np.float32), "cam: frame #3 is float32 [4, 4, 3]" + tail),
         (np.zeros((4, 4), np.uint8), "cam: frame #3 is uint8 [4, 4]" + tail),
         (np.zeros((4, 4, 4), np.uint8), "cam: frame #3 is uint8 [4, 4, 4]" + tail),
         (np.zeros((1, 4, 3), np.uint8), "cam: frame #3 is uint8 [1, 4, 3]" + tail),
         ([[0, 0, 0]], "cam: frame #3 is a list, expected a uint8 RGB array [H, W, 3]")]
  for frame, message in bad:
    with pytest.raises(MediaError) as err:
      stream_lib.check_frame(frame, "cam", 3)
    assert str(err.value) == message
  wide = np.arange(4 * 8 * 3, dtype=np.uint8).reshape(4, 8, 3)
  np.testing.assert_array_equal(stream_lib.centre_square(wide), wide[:, 2:6])
  np.testing.assert_array_equal(stream_lib.centre_square(wide.transpose(1, 0, 2)),
                                wide.transpose(1, 0, 2)[2:6])


@pytest.mark.slow
def test_a_streamed_clip_gives_the_frames_of_animate(pipe, source, d0_frames):
  want = _animate(pipe, source, D0)
  assert len(want) == N
  got = list(pipe.stream(source, iter(d0_frames)))  # LivePortrait.stream: stream_lib.stream
  assert [f.index for f in got] == list(range(N))
  for g, w in zip(got, want):
    # Same shapes in every network call (batch 1): the same bytes.
    np.testing.assert_array_equal(g.driving256, w.driving256)
    np.testing.assert_array_equal(g.x_d, w.x_d)
    np.testing.assert_array_equal(g.crop, w.crop)
    assert g.result.shape == (512, 512, 3) and 0 < g.latency_s < 60
  # The frames follow the driving motion (the comparison is not of constant images); the demo
  # model moves little over these 5 frames: 3% of the values, by a level or two.
  assert (got[-1].crop != got[0].crop).mean() > 0.01
  # Grouped calls of 2 (fixed shape, the last one padded): the same frames up to float
  # summation order, which uint8 truncation turns into steps of one level at most.
  with stream_lib.stream(pipe, source, VideoReader(D0, max_frames=N), max_batch=2) as batched:
    got2 = list(batched)
  assert [f.index for f in got2] == list(range(N))
  for g, w in zip(got2, want):
    np.testing.assert_allclose(g.x_d, w.x_d, atol=1e-5)
    assert np.abs(g.crop.astype(int) - w.crop.astype(int)).max() <= 1
  assert not _reader_threads()


@pytest.mark.slow
def test_each_frame_is_out_before_the_next_is_asked_for(pipe, source, d0_frames):
  events = []

  def camera():  # a slow camera: a frame every 50 ms
    for k, frame in enumerate(d0_frames[:4]):
      time.sleep(0.05)
      events.append(("request", k))
      yield frame

  for frame in stream_lib.stream(pipe, source, camera()):
    events.append(("result", frame.index))
    assert frame.latency_s < 30
  want = [(kind, k) for k in range(4) for kind in ("request", "result")]
  assert events == want  # result k before frame k + 1 is even asked for


@pytest.mark.slow
def test_an_endless_stream_stopped_early_leaves_no_thread_and_reads_a_bounded_ahead(
    pipe, source, d0_frames):
  for max_batch in (1, 2):
    requested = []

    def endless():
      for k in itertools.count():
        requested.append(k)
        yield d0_frames[k % len(d0_frames)]

    s = stream_lib.stream(pipe, source, endless(), max_batch=max_batch, queue_size=2)
    outstanding = []
    for frame in itertools.islice(s, 4):
      outstanding.append(len(requested) - frame.index - 1)
    s.close()
    assert not _reader_threads()
    # Read ahead by at most the queue, the batch being animated and the frame in hand.
    assert max(outstanding) <= (0 if max_batch == 1 else 2 + max_batch + 1), outstanding
    assert len(requested) <= 4 + (0 if max_batch == 1 else 2 + max_batch + 1)


@pytest.mark.slow
def test_bad_frames_and_failing_inputs_after_the_good_frames(pipe, source, d0_frames):
  for max_batch in (1, 2):
    frames = d0_frames[:2] + [d0_frames[2].astype(np.float32)] + d0_frames[3:]
    got = []
    with pytest.raises(MediaError) as err:
      for frame in stream_lib.stream(pipe, source, iter(frames), max_batch=max_batch,
                                     name="webcam"):
        got.append(frame.index)
    assert got == [0, 1]
    assert str(err.value) == ("webcam: frame #2 is float32 [512, 512, 3], expected uint8 RGB "
                              "[H, W, 3]")

    def broken():
      yield from d0_frames[:3]
      raise OSError("camera unplugged")

    got = []
    with pytest.raises(OSError, match="camera unplugged"):
      for frame in stream_lib.stream(pipe, source, broken(), max_batch=max_batch):
        got.append(frame.index)
    assert got == [0, 1, 2]
    assert not _reader_threads()


@pytest.mark.slow
def test_non_square_frames_without_face_models_use_their_centre(pipe, source, d0_frames):
  rng = np.random.default_rng(0)
  noise = lambda: rng.integers(0, 256, (512, 64, 3), dtype=np.uint8)
  wide = [np.concatenate([noise(), f, noise()], axis=1) for f in d0_frames[:3]]  # 640x512
  s = stream_lib.stream(pipe, source, iter(wide), name="cam")
  got = list(s)
  want = list(stream_lib.stream(pipe, source, iter(d0_frames[:3])))
  for g, w in zip(got, want):
    np.testing.assert_array_equal(g.crop, w.crop)
  assert any("640x512 frames are not square" in n and "centre square" in n for n in s.notes)


@pytest.mark.slow
def test_with_face_models_the_box_of_the_first_face_crops_the_stream(pipe, source, tmp_path):
  """A 720x1080 clip (not square) is cropped with the official driving box of its first frame;
  the stand-in face models find the same face in every frame (a tracker fixed point), so the
  box `animate` averages over the clip is that box to a fraction of a pixel, and the frames
  agree with animate's up to that."""
  faces = FaceStage.from_weights(face_standins.write_face_models(str(tmp_path / "faces")))
  frames = _frames(S13, 3)
  s = stream_lib.stream(pipe, source, iter(frames), faces=faces)
  got = list(s)
  box = faces.driving_crop_box(Track([faces.image_landmarks(frames[0])], []), S13)
  np.testing.assert_array_equal(s.animator.box, box)
  assert len(got) == 3
  for g, frame in zip(got, frames):
    np.testing.assert_array_equal(g.driving256, crop_driving(frame, box))
  assert any("fixed from the first frame with a face" in n for n in s.notes)
  driving = driving_stream.prepare(S13, "video", AnimationOptions(), faces, max_frames=3)
  np.testing.assert_allclose(driving.crop_box, box, atol=0.5)
  want = list(pipe.animate(source, driving))
  for g, w in zip(got, want):
    assert np.abs(g.crop.astype(int) - w.crop.astype(int)).mean() < 0.05
  # No face in the first frames: they are skipped (counted in the index), the rest animated.
  blank = np.zeros((1080, 720, 3), np.uint8)
  no_face = FaceStage.from_weights(face_standins.write_face_models(str(tmp_path / "none"),
                                                                   face=False))
  s = stream_lib.stream(pipe, source, iter([blank, blank]), faces=no_face)
  assert list(s) == [] and s.animator.skipped == 2 and s.animator.box is None

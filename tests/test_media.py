# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Tests of lp_jax.io (kinds, images, probe, video_reader, video_writer, gif) on the real example
inputs of the shared assets folder (fast: a few seconds)."""

import os
import subprocess
import time

import cv2
import numpy as np
import pytest

from conftest import SHARED
from lp_jax.io import gif, images, kinds, probe, video_reader, video_writer
from lp_jax.io.errors import MediaError
from lp_jax.io.ffmpeg import ffmpeg_exe

ASSETS = os.path.join(SHARED, "assets")
D0 = os.path.join(ASSETS, "driving", "d0.mp4")  # 512x512, 25 fps, 78 frames, no audio
D11 = os.path.join(ASSETS, "driving", "d11.mp4")  # 512x512, 25 fps, 225 frames, AAC audio
D1_PKL = os.path.join(ASSETS, "driving", "d1.pkl")
S13 = os.path.join(ASSETS, "source", "s13.mp4")  # 720 wide, 1080 high, 25 fps, 103 frames, audio
S0 = os.path.join(ASSETS, "source", "s0.jpg")  # 600x704


@pytest.fixture(scope="module", autouse=True)
def _assets():
  if not os.path.isdir(ASSETS):
    pytest.fail(f"{ASSETS} not found (set LP_SHARED or put ../shared beside the repo)")


def ffmpeg(*args):
  subprocess.run([ffmpeg_exe(), "-y", "-nostdin", "-v", "error", *args], check=True,
                 capture_output=True)


def assert_one_line(err: pytest.ExceptionInfo, path) -> None:
  msg = str(err.value)
  assert "\n" not in msg and msg.startswith(str(path)), msg


def opencv_frames(path, indices):
  cap = cv2.VideoCapture(path)
  out, i = {}, 0
  while True:
    ok, bgr = cap.read()
    if not ok:
      break
    if i in indices:
      out[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    i += 1
  cap.release()
  return out, i


def mean_abs_diff(a, b) -> float:
  return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# ------------------------------------------------------------------------------------------------
# Classification and images


def test_classify(tmp_path):
  assert kinds.classify(S0) == "image"
  assert kinds.classify(D0) == "video"
  assert kinds.classify(D1_PKL) == "template"
  assert kinds.classify(str(tmp_path)) == "video"  # a folder of frames, as upstream
  for name, kind in [("a.JPG", "image"), ("b.WebP", "image"), ("c.MOV", "video"),
                     ("d.Webm", "video"), ("e.PKL", "template"), ("f.npz", "template")]:
    (tmp_path / name).write_bytes(b"")
    assert kinds.classify(str(tmp_path / name)) == kind, name
  (tmp_path / "notes.txt").write_text("x")
  with pytest.raises(MediaError, match="unknown input type .txt") as err:
    kinds.classify(str(tmp_path / "notes.txt"))
  assert_one_line(err, tmp_path / "notes.txt")
  with pytest.raises(MediaError, match="no such file") as err:
    kinds.classify(str(tmp_path / "missing.mp4"))
  assert_one_line(err, tmp_path / "missing.mp4")


def test_read_image(tmp_path):
  img = images.read_image(S0)
  assert img.dtype == np.uint8 and img.shape == (704, 600, 3)
  np.testing.assert_array_equal(img, cv2.imread(S0)[..., ::-1])  # RGB, not BGR
  rgba = np.zeros((4, 6, 4), np.uint8)
  rgba[..., 0], rgba[..., 3] = 200, 10
  cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
  got = images.read_image(str(tmp_path / "alpha.png"))
  assert got.shape == (4, 6, 3) and (got[..., 2] == 200).all()  # alpha dropped, BGR->RGB
  bad = tmp_path / "fake.jpg"
  bad.write_text("this is not a JPEG\n")
  for path, what in [(bad, "not a readable image"), (tmp_path / "missing.png", "no such file"),
                     (tmp_path, "is a directory")]:
    with pytest.raises(MediaError, match=what) as err:
      images.read_image(str(path))
    assert_one_line(err, path)


def test_resize_to_limit():
  wide = np.random.default_rng(0).integers(0, 255, (900, 1500, 3), dtype=np.uint8)
  out = images.resize_to_limit(wide)  # long side 1500 -> 1280; 900 -> int(900 * (1280/1500))
  assert out.shape == (768, 1280, 3)
  np.testing.assert_array_equal(out, cv2.resize(wide, (1280, 768),
                                                interpolation=cv2.INTER_LINEAR))
  tall = np.zeros((1501, 901, 3), np.uint8)
  assert images.resize_to_limit(tall, 1280, 2).shape == (1280, 768, 3)  # int(768.3) = 768
  # Odd sides below the limit are cropped at the bottom / right, never resized.
  odd = np.arange(101 * 75 * 3, dtype=np.uint32).astype(np.uint8).reshape(101, 75, 3)
  out = images.resize_to_limit(odd, 1280, 2)
  assert out.shape == (100, 74, 3)
  np.testing.assert_array_equal(out, odd[:100, :74])
  assert images.resize_to_limit(odd, 1280, 16).shape == (96, 64, 3)
  assert images.resize_to_limit(odd, 0, 1).shape == odd.shape  # max_dim 0: no limit
  tiny = np.zeros((1, 7, 3), np.uint8)
  assert images.resize_to_limit(tiny, 1280, 2).shape == (1, 7, 3)  # upstream keeps it as is
  # Resized to 1280 x 853, then the odd 853 is cropped to 852.
  assert images.resize_to_limit(np.zeros((1000, 1500, 3), np.uint8)).shape == (852, 1280, 3)


def test_write_image(tmp_path):
  rgb = np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8)
  path = images.write_image(str(tmp_path / "sub" / "x.png"), rgb)
  assert path == str(tmp_path / "sub" / "x.png")
  np.testing.assert_array_equal(images.read_image(path), rgb)  # lossless and RGB-ordered
  smooth = np.full((16, 16, 3), (250, 10, 10), np.uint8)
  jpg = images.read_image(images.write_image(str(tmp_path / "y.jpg"), smooth))
  assert mean_abs_diff(jpg, smooth) < 3
  with pytest.raises(MediaError, match="cannot write images of type .txt") as err:
    images.write_image(str(tmp_path / "z.txt"), rgb)
  assert_one_line(err, tmp_path / "z.txt")
  with pytest.raises(MediaError, match="uint8 RGB"):
    images.write_image(str(tmp_path / "f.png"), rgb.astype(np.float32))
  assert sorted(os.listdir(tmp_path)) == ["sub", "y.jpg"]
  assert os.listdir(tmp_path / "sub") == ["x.png"]


# ------------------------------------------------------------------------------------------------
# Probing and audio


def test_probe_assets():
  d0 = probe.probe_video(D0)
  assert (d0.fps, d0.fps_int, d0.n_frames, d0.width, d0.height) == (25.0, 25, 78, 512, 512)
  assert not d0.has_audio and d0.is_square
  d11 = probe.probe_video(D11)
  assert (d11.fps_int, d11.n_frames, d11.size, d11.has_audio) == (25, 225, (512, 512), True)
  s13 = probe.probe_video(S13)  # a portrait video: 720 wide, 1080 high
  assert (s13.fps_int, s13.n_frames, s13.width, s13.height) == (25, 103, 720, 1080)
  assert s13.has_audio and not s13.is_square


def test_fps_int_truncates():
  info = probe.VideoInfo("x.mp4", 29.97, 10, 2, 2, False)
  assert info.fps_int == 29  # official int() truncation
  assert probe.VideoInfo("x.mp4", 0.0, 10, 2, 2, False).fps_int == 25


def test_has_audio_stream(tmp_path):
  assert probe.has_audio_stream(D11) and probe.has_audio_stream(S13)
  assert not probe.has_audio_stream(D0)
  assert not probe.has_audio_stream(S0)
  assert not probe.has_audio_stream(D1_PKL)
  assert not probe.has_audio_stream(str(tmp_path))
  assert not probe.has_audio_stream(str(tmp_path / "missing.mp4"))
  assert not probe.has_audio_stream(None)


def test_choose_audio_source():
  assert probe.choose_audio_source(D11, S13, "driving") == D11
  assert probe.choose_audio_source(D11, S13, "source") == S13
  assert probe.choose_audio_source(D0, S13, "driving") == S13  # the driving video is silent
  assert probe.choose_audio_source(D11, S0, "source") == D11  # an image source has no audio
  assert probe.choose_audio_source(D11, None, "source") == D11
  assert probe.choose_audio_source(D0, S0, "driving") is None
  assert probe.choose_audio_source(D1_PKL, S0, "driving") is None  # templates carry no audio
  with pytest.raises(ValueError, match="priority"):
    probe.choose_audio_source(D11, S13, "loudest")


def test_probe_errors(tmp_path):
  text = tmp_path / "notes.mp4"
  text.write_text("not a video\n")
  empty = tmp_path / "empty.mp4"
  empty.write_bytes(b"")
  no_stream = tmp_path / "no_stream.mp4"  # `-t 0`: ffmpeg writes an mp4 without any stream
  ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x64:r=25", "-t", "0", "-c:v", "libx264",
         str(no_stream))
  zero = tmp_path / "zero.avi"  # AVI keeps the (empty) video stream: a video of zero frames
  ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x64:r=25", "-t", "0", "-c:v", "libx264",
         "-pix_fmt", "yuv420p", str(zero))
  cases = [(tmp_path / "missing.mp4", "no such file"), (text, "not a readable video"),
           (empty, "not a readable video"), (no_stream, "has no video stream"),
           (zero, "has no frames"), (S0, "still image")]
  for path, what in cases:
    with pytest.raises(MediaError, match=what) as err:
      probe.probe_video(str(path))
    assert_one_line(err, path)
  for path, what in cases[:5]:  # the reader probes first, so it refuses the same files
    with pytest.raises(MediaError, match=what) as err:
      video_reader.VideoReader(str(path))
    assert_one_line(err, path)


# ------------------------------------------------------------------------------------------------
# Reading


def test_reader_matches_opencv():
  with video_reader.VideoReader(D0) as reader:
    frames = list(reader)
  assert len(frames) == 78 and reader.frames_read == 78
  assert all(f.shape == (512, 512, 3) and f.dtype == np.uint8 for f in frames)
  ref, count = opencv_frames(D0, {0, 77})
  assert count == 78
  first, last = mean_abs_diff(frames[0], ref[0]), mean_abs_diff(frames[-1], ref[77])
  print(f"d0 ffmpeg vs cv2.VideoCapture mean abs diff: first {first:.3f}, last {last:.3f}")
  assert first < 2 and last < 2, (first, last)
  assert mean_abs_diff(frames[0], frames[-1]) > 2  # compared the right frames, not one twice


def test_reader_max_frames_and_early_close():
  frames = list(video_reader.VideoReader(D0, max_frames=5))
  assert len(frames) == 5
  with video_reader.VideoReader(D11, buffer=2) as reader:
    for i, _ in enumerate(reader):
      if i == 3:
        break  # leave with the decoder mid-stream
  assert not reader._thread.is_alive()
  assert reader._proc.poll() is not None  # ffmpeg was stopped, not left blocked on the pipe
  assert reader.frames_decoded < 225
  assert list(reader) == []  # a closed reader yields nothing more


def test_reader_start_gives_the_frames_of_the_cut_clip(tmp_path):
  """start=k: frames k, k+1, ... exactly as a full decode gives them (nothing re-encoded)."""
  full = list(video_reader.VideoReader(D0, max_frames=12))
  cut = list(video_reader.VideoReader(D0, start=9, max_frames=3))
  assert len(cut) == 3 and all(np.array_equal(a, b) for a, b in zip(cut, full[9:12]))
  assert len(list(video_reader.VideoReader(D0, start=75))) == 3  # to the end: 78 frames
  folder = tmp_path / "frames"
  folder.mkdir()
  for i, frame in enumerate(full[:4]):
    cv2.imwrite(str(folder / f"{i:03d}.png"), frame[..., ::-1])
  assert np.array_equal(next(iter(video_reader.VideoReader(str(folder), start=2))), full[2])
  with pytest.raises(MediaError, match="no frames from frame 78 on"):
    list(video_reader.VideoReader(D0, start=78))


def test_reader_queue_stays_bounded():
  # A slow consumer of a 225-frame video: the decoder must wait, not pile frames up.
  bound = 4
  lead = 0
  with video_reader.VideoReader(D11, buffer=bound) as reader:
    for i, frame in enumerate(reader):
      assert frame.shape == (512, 512, 3)
      lead = max(lead, reader.frames_decoded - reader.frames_read)
      if i % 8 == 0:
        time.sleep(0.005)
  assert reader.frames_read == 225
  assert 1 <= reader.peak_queued <= bound, reader.peak_queued
  # Decoded but not yet consumed: the queue plus the one frame the producer may hold.
  assert lead <= bound + 1, lead


def test_reader_propagates_decoder_failure():
  reader = video_reader.VideoReader(D11, buffer=2)
  with reader, pytest.raises(MediaError) as err:
    next(reader)
    reader._proc.kill()  # the decoder dies mid-video
    for _ in reader:
      pass
  assert_one_line(err, D11)
  assert reader.frames_read < 225


def test_reader_folder_of_frames(tmp_path):
  rng = np.random.default_rng(2)
  frames = [rng.integers(0, 255, (8, 10, 3), dtype=np.uint8) for _ in range(3)]
  for i, f in enumerate(frames):
    images.write_image(str(tmp_path / f"{i:03d}.png"), f)
  info = probe.probe_video(str(tmp_path))
  assert (info.n_frames, info.width, info.height, info.fps_int, info.has_audio) == \
      (3, 10, 8, 25, False)
  got = list(video_reader.VideoReader(str(tmp_path)))
  assert len(got) == 3 and all((a == b).all() for a, b in zip(got, frames))
  assert len(list(video_reader.VideoReader(str(tmp_path), max_frames=2))) == 2
  images.write_image(str(tmp_path / "004.png"), frames[0][:4])
  with pytest.raises(MediaError, match="004.png: frame is 10x4"):
    list(video_reader.VideoReader(str(tmp_path)))


def test_reader_applies_display_rotation(tmp_path):
  plain, rotated = tmp_path / "plain.mp4", tmp_path / "rotated.mp4"
  frame = np.zeros((32, 64, 3), np.uint8)
  with video_writer.VideoWriter(str(plain), 25) as writer:
    for _ in range(2):
      writer.write(frame)
  ffmpeg("-display_rotation", "90", "-i", str(plain), "-c", "copy", str(rotated))
  info = probe.probe_video(str(rotated))
  assert info.size == (32, 64)  # ffmpeg turns the frames upright, as the official reader does
  assert [f.shape for f in video_reader.VideoReader(str(rotated))] == [(64, 32, 3)] * 2


# ------------------------------------------------------------------------------------------------
# Writing


def test_writer_with_audio(tmp_path):
  frames = list(video_reader.VideoReader(D0, max_frames=10))
  with video_writer.VideoWriter(str(tmp_path / "out.mp4"), 25, audio_from=D11) as writer:
    for f in frames:
      writer.write(f)
  assert writer.audio_muxed and writer.frames_written == 10
  info = probe.probe_video(str(tmp_path / "out.mp4"))
  assert (info.n_frames, info.fps, info.size, info.has_audio) == (10, 25.0, (512, 512), True)
  assert os.listdir(tmp_path) == ["out.mp4"]  # no temporary files left
  back = list(video_reader.VideoReader(str(tmp_path / "out.mp4")))
  assert max(mean_abs_diff(a, b) for a, b in zip(back, frames)) < 2  # crf 18 is near-lossless


def test_writer_without_audio(tmp_path):
  frames = list(video_reader.VideoReader(D0, max_frames=3))
  path = video_writer.VideoWriter(str(tmp_path / "silent.mp4"), 30)
  for f in frames:
    path.write(f)
  assert path.close() == str(tmp_path / "silent.mp4")
  info = probe.probe_video(str(tmp_path / "silent.mp4"))
  assert (info.n_frames, info.fps_int, info.has_audio) == (3, 30, False)
  # An audio source without an audio stream leaves the video silent, without failing.
  with video_writer.VideoWriter(str(tmp_path / "still_silent.mp4"), 25, audio_from=D0) as writer:
    writer.write(frames[0])
  assert not writer.audio_muxed
  assert not probe.probe_video(str(tmp_path / "still_silent.mp4")).has_audio


def test_writer_abort_leaves_nothing(tmp_path):
  frame = np.zeros((64, 64, 3), np.uint8)
  writer = video_writer.VideoWriter(str(tmp_path / "a.mp4"), 25, audio_from=D11)
  for _ in range(20):
    writer.write(frame)
  writer.abort()
  writer.abort()  # idempotent
  assert os.listdir(tmp_path) == []
  with pytest.raises(RuntimeError, match="inference failed"):
    with video_writer.VideoWriter(str(tmp_path / "b.mp4"), 25) as writer:
      writer.write(frame)
      raise RuntimeError("inference failed")
  assert os.listdir(tmp_path) == []
  with pytest.raises(MediaError, match="aborted"):
    writer.write(frame)
  # Aborting a finished writer (cleanup after a later failure) keeps the finished file.
  with video_writer.VideoWriter(str(tmp_path / "c.mp4"), 25) as writer:
    writer.write(frame)
  writer.abort()
  assert os.listdir(tmp_path) == ["c.mp4"]


def test_writer_errors(tmp_path):
  frame = np.zeros((64, 64, 3), np.uint8)
  writer = video_writer.VideoWriter(str(tmp_path / "e.mp4"), 25)
  with pytest.raises(MediaError, match="no frames were written") as err:
    writer.close()
  assert_one_line(err, tmp_path / "e.mp4")
  with video_writer.VideoWriter(str(tmp_path / "f.mp4"), 25) as writer:
    with pytest.raises(MediaError, match="frame 0 must be a uint8 RGB"):
      writer.write(frame.astype(np.float32))
    writer.write(frame)
    with pytest.raises(MediaError, match="frame 1 is 32x64, the video is 64x64") as err:
      writer.write(frame[:, :32])
    assert_one_line(err, tmp_path / "f.mp4")
  with pytest.raises(MediaError, match="frame rate must be positive"):
    video_writer.VideoWriter(str(tmp_path / "g.mp4"), 0)
  assert os.listdir(tmp_path) == ["f.mp4"]


def test_writer_odd_size_is_padded_to_even(tmp_path):
  # yuv420p needs even sides: like imageio (macro_block_size=2), scale up to the next even size.
  with video_writer.VideoWriter(str(tmp_path / "odd.mp4"), 25) as writer:
    writer.write(np.full((21, 33, 3), 128, np.uint8))
  assert probe.probe_video(str(tmp_path / "odd.mp4")).size == (34, 22)


def test_writer_opencv_rgb_to_yuv(tmp_path):
  """OpenCV's conversion before the pipe: the same video as ffmpeg's up to chroma rounding
  (a channel swap or a wrong plane order would be tens of levels off), odd sides still padded."""
  frames = list(video_reader.VideoReader(D0, max_frames=6))
  back = {}
  for how in video_writer.RGB_TO_YUV:
    with video_writer.VideoWriter(str(tmp_path / f"{how}.mp4"), 25, rgb_to_yuv=how) as writer:
      for f in frames:
        writer.write(f)
    info = probe.probe_video(str(tmp_path / f"{how}.mp4"))
    assert (info.n_frames, info.size) == (6, (512, 512))
    back[how] = list(video_reader.VideoReader(str(tmp_path / f"{how}.mp4")))
  for ours, theirs, source in zip(back["opencv"], back["ffmpeg"], frames):
    assert mean_abs_diff(ours, theirs) < 1.0
    assert mean_abs_diff(ours, source) < 2
  with video_writer.VideoWriter(str(tmp_path / "odd.mp4"), 25, rgb_to_yuv="opencv") as writer:
    writer.write(np.full((21, 33, 3), 128, np.uint8))
  assert probe.probe_video(str(tmp_path / "odd.mp4")).size == (34, 22)
  with pytest.raises(ValueError, match="rgb_to_yuv"):
    video_writer.VideoWriter(str(tmp_path / "x.mp4"), 25, rgb_to_yuv="swscale")


def test_write_gif(tmp_path):
  frames = list(video_reader.VideoReader(D0, max_frames=5))
  with video_writer.VideoWriter(str(tmp_path / "clip.mp4"), 25) as writer:
    for f in frames:
      writer.write(f)
  written = gif.write_gif(str(tmp_path / "clip.mp4"), str(tmp_path / "clip.gif"))
  assert written == str(tmp_path / "clip.gif")
  assert probe.probe_video(written).width == 256  # scale=256:-1
  assert sorted(os.listdir(tmp_path)) == ["clip.gif", "clip.mp4"]  # palette removed
  bad = tmp_path / "bad.mp4"
  bad.write_text("x")
  with pytest.raises(MediaError, match="making the GIF") as err:
    gif.write_gif(str(bad), str(tmp_path / "bad.gif"))
  assert_one_line(err, tmp_path / "bad.gif")
  assert sorted(os.listdir(tmp_path)) == ["bad.mp4", "clip.gif", "clip.mp4"]

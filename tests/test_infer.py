# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""infer.py end to end on the shared real assets with small synthetic (untrained) weights."""

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

import face_standins
from conftest import ROOT, SHARED, run_in_process
from lp_jax.motion_template.formats import load_template
from lp_jax.inference import assets
from lp_jax.inference import run as infer_run
from lp_jax.io import images, probe, video_reader

A = os.path.join(SHARED, "assets")
S31 = os.path.join(A, "source", "s31.jpg")
S0, S6, S13 = (os.path.join(A, "source", n) for n in ("s0.jpg", "s6.jpg", "s13.mp4"))
D0, D11 = os.path.join(A, "driving", "d0.mp4"), os.path.join(A, "driving", "d11.mp4")
D12, D1, D5 = (os.path.join(A, "driving", n) for n in ("d12.jpg", "d1.pkl", "d5.pkl"))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
  root = tmp_path_factory.mktemp("infer")
  weights = assets.write_synthetic(str(root / "weights"), "micro")
  faces = face_standins.write_face_models(str(root / "faces"))
  no_face = face_standins.write_face_models(str(root / "no_face"), face=False)
  return {"weights": weights, "cache": str(root / "cache"), "root": root, "faces": faces,
          "no_face": no_face}


def infer(env, *args, out="out"):
  """infer.py's main in this process (the outputs are the point, not the process)."""
  out_dir = env["root"] / out
  argv = ["-w", env["weights"], "-o", str(out_dir), "--quiet", *args]
  return run_in_process(infer_run.run, argv), out_dir


def infer_process(env, *args, out="out"):
  """infer.py as a real process: its exit code and the exact stderr a user sees."""
  out_dir = env["root"] / out
  cmd = [sys.executable, os.path.join(ROOT, "infer.py"), "-w", env["weights"], "-o",
         str(out_dir), "--quiet", *args]
  proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600,
                        env=dict(os.environ, PYTHONPATH=ROOT, LP_JAX_CACHE=env["cache"]))
  return proc, out_dir


def frames_of(path):
  cap = cv2.VideoCapture(str(path))
  n = 0
  while cap.read()[0]:
    n += 1
  size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
  return n, size


@pytest.mark.slow
def test_video_driving_with_audio(env):
  proc, out = infer(env, "-s", S31, "-d", D11, "--no_flag_do_crop", "--max_frames", "3")
  assert proc.returncode == 0, proc.stderr
  assert frames_of(out / "s31--d11.mp4") == (3, (512, 512))
  assert frames_of(out / "s31--d11_concat.mp4") == (3, (1536, 512))  # driving|source|result
  info = probe.probe_video(str(out / "s31--d11.mp4"))
  assert info.fps_int == 25 and info.has_audio
  # Without face models there are no eye / lip ratios, which the official pkl needs: our npz.
  tpl = load_template(str(out / "d11.npz"))
  assert tpl.n_frames == 3 and tpl.output_fps == 25 and tpl.x_s.shape == (3, 21, 3)
  assert sorted(os.listdir(out)) == ["d11.npz", "s31--d11.mp4", "s31--d11_concat.mp4"]
  # The template of the driving video drives the same animation without the video.
  proc2, out2 = infer(env, "-s", S31, "-d", str(out / "d11.npz"), "--no_flag_do_crop",
                      out="out_from_template")
  assert proc2.returncode == 0, proc2.stderr
  a = np.stack(list(video_reader.VideoReader(str(out / "s31--d11.mp4"))))
  b = np.stack(list(video_reader.VideoReader(str(out2 / "s31--d11.mp4"))))
  assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).mean() < 1.0


@pytest.mark.slow
def test_video_without_audio_and_official_template(env):
  proc, out = infer(env, "-s", S31, "-d", D0, "--no_flag_do_crop", "--max_frames", "2",
                    "--face_models", env["faces"], "--no_flag_stitching", "--animation_region",
                    "exp")
  assert proc.returncode == 0, proc.stderr
  assert not probe.probe_video(str(out / "s31--d0.mp4")).has_audio
  tpl = load_template(str(out / "d0.pkl"))  # official layout (default), safe reader
  assert tpl.n_frames == 2 and tpl.kp.shape == (2, 21, 3)
  # A real process: JAX opens its persistent cache once per process, so only a fresh one can
  # show that --compilation_cache is where infer.py keeps its compiled programs.
  xla_cache = env["root"] / "xla"
  proc, out = infer_process(env, "-s", S31, "-d", D1, "--no_flag_do_crop", "--max_frames", "2",
                            "--compilation_cache", str(xla_cache), out="tpl")
  assert proc.returncode == 0, proc.stderr
  assert frames_of(out / "s31--d1.mp4") == (2, (512, 512))
  assert frames_of(out / "s31--d1_concat.mp4") == (2, (1024, 512))  # no driving column
  assert probe.probe_video(str(out / "s31--d1.mp4")).fps_int == 30  # the template's fps
  assert os.listdir(xla_cache)  # the persistent compilation cache was filled


@pytest.mark.slow
def test_image_driving_writes_images(env):
  # Default flags: relative motion reads the bundled official lip array.
  proc, out = infer(env, "-s", S31, "-d", D12, "--no_flag_do_crop")
  assert proc.returncode == 0, proc.stderr
  # No paste-back (an uncropped source): the official <src>--<drv>.jpg is the concat image.
  concat = images.read_image(str(out / "s31--d12_concat.jpg"))
  assert concat.shape == (512, 1536, 3)
  np.testing.assert_array_equal(images.read_image(str(out / "s31--d12.jpg")), concat)
  summary = json.loads(proc.stderr.strip().splitlines()[-1]) if proc.stderr.strip() else None
  assert summary is None  # --quiet prints nothing


@pytest.mark.slow
def test_crop_paste_back_retargeting_and_gif(env):
  """Uncropped photo: detector crop, tracked driving landmarks, retargeting, paste-back."""
  proc, out = infer(env, "-s", S0, "-d", D11, "--face_models", env["faces"], "--max_frames",
                    "3", "--flag_eye_retargeting", "--flag_lip_retargeting", "--gif")
  assert proc.returncode == 0, proc.stderr
  # Paste-back: the result has the source image's size (600x704), the concat the crops'.
  assert frames_of(out / "s0--d11.mp4") == (3, (600, 704))
  assert frames_of(out / "s0--d11_concat.mp4") == (3, (1536, 512))
  assert probe.probe_video(str(out / "s0--d11.mp4")).has_audio
  assert (out / "s0--d11.gif").stat().st_size > 0
  tpl = load_template(str(out / "d11.pkl"))
  assert tpl.eye_ratios.shape == (3, 2) and tpl.lip_ratios.shape == (3, 1)
  np.testing.assert_allclose(tpl.eye_ratios, 0.3, atol=1e-3)  # the stand-in's open eyes
  # Outside the pasted face the frames are the source photo (up to video compression).
  first = next(iter(video_reader.VideoReader(str(out / "s0--d11.mp4"))))
  source = images.read_image(S0)
  assert np.abs(first[:40].astype(int) - source[:40].astype(int)).mean() < 4.0


@pytest.mark.slow
def test_source_video_with_driving_video_and_template(env):
  """Portrait video editing: per-frame crops, smoothing, source fps and the source's audio."""
  proc, out = infer(env, "-s", S13, "-d", D0, "--face_models", env["faces"], "--max_frames",
                    "4", "--flag_normalize_lip", "--flag_source_video_eye_retargeting")
  assert proc.returncode == 0, proc.stderr
  assert frames_of(out / "s13--d0.mp4") == (4, (720, 1080))  # pasted back into each frame
  assert frames_of(out / "s13--d0_concat.mp4") == (4, (1536, 512))
  info = probe.probe_video(str(out / "s13--d0.mp4"))
  assert info.fps_int == 25 and info.has_audio  # d0 is silent: the source video's audio
  proc, out = infer(env, "-s", S13, "-d", D1, "--face_models", env["faces"], "--max_frames",
                    "3", "--no_flag_pasteback", out="v2v_tpl")
  assert proc.returncode == 0, proc.stderr
  assert frames_of(out / "s13--d1.mp4") == (3, (512, 512))
  assert frames_of(out / "s13--d1_concat.mp4") == (3, (1024, 512))
  assert probe.probe_video(str(out / "s13--d1.mp4")).fps_int == 25  # source fps, not 30


@pytest.mark.slow
def test_non_square_driving_video_is_cropped(env):
  proc, out = infer(env, "-s", S6, "-d", S13, "--face_models", env["faces"], "--max_frames",
                    "2", "--no_flag_do_crop", "--audio_priority", "source")
  assert proc.returncode == 0, proc.stderr
  assert frames_of(out / "s6--s13.mp4") == (2, (512, 512))
  assert probe.probe_video(str(out / "s6--s13.mp4")).has_audio


def bad_inputs(env, tmp):
  text = tmp / "notes.jpg"
  text.write_text("not an image")
  empty = tmp / "empty.mp4"
  empty.write_bytes(b"")
  cut = tmp / "cut.pkl"
  data = open(D5, "rb").read()
  cut.write_bytes(data[: len(data) // 2])
  no_face = ["--face_models", env["no_face"]]
  return [
      (["-s", S31, "-d", D0], S31, "face models"),  # default crop needs the detectors
      (["-s", str(tmp / "missing.jpg"), "-d", D0, "--no_flag_do_crop"], "missing.jpg",
       "no such file"),
      (["-s", str(text), "-d", D0, "--no_flag_do_crop"], str(text), "not a readable image"),
      (["-s", S31, "-d", str(cut), "--no_flag_do_crop"], str(cut), "pickle"),
      (["-s", S31, "-d", str(empty), "--no_flag_do_crop"], str(empty), "video"),
      (["-s", S31, "-d", S13, "--no_flag_do_crop"], S13, "not square"),
      (["-s", S0, "-d", D0, *no_face], S0, "no face found in the source image"),
      (["-s", S13, "-d", D0, *no_face], S13, "no face found in any source frame"),
      (["-s", S31, "-d", S13, "--no_flag_do_crop", *no_face], S13,
       "no face found in any driving frame"),
  ]


def test_bad_inputs_fail_in_one_line_and_write_nothing(env, tmp_path):
  """In-process for each bad input; the first again as a real process (the exact stderr and
  exit status a user gets)."""
  cases = bad_inputs(env, tmp_path)
  for i, (args, name, words) in enumerate([cases[0]] + cases):
    proc, out = (infer_process if i == 0 else infer)(env, *args, out="bad")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, (args, proc.stderr)
    assert len(lines) == 1 and name in lines[0] and words in lines[0], lines
    assert not out.exists()
  shutil.rmtree(env["root"] / "bad", ignore_errors=True)

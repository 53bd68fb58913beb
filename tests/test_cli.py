# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""infer.py's official command line: every ArgumentConfig field, spellings, crop flags, limits,
frame counts with short audio, v2v lengths, templates, and interruption."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import GOLDEN_DIR, ROOT, SHARED, run_in_process
from lp_jax.inference import assets
from lp_jax.inference import cli
from lp_jax.inference import run as infer_run
from lp_jax.inference.faces import FaceStage, Track
from lp_jax.io import images, probe, video_reader
from lp_jax.io.errors import MediaError
from lp_jax.io.ffmpeg import ffmpeg_exe
from lp_jax.preprocess import crop as crop_lib

A = os.path.join(SHARED, "assets")
S0, S13, S31 = (os.path.join(A, "source", n) for n in ("s0.jpg", "s13.mp4", "s31.jpg"))
D0, D11, D12 = (os.path.join(A, "driving", n) for n in ("d0.mp4", "d11.mp4", "d12.jpg"))

# The official ArgumentConfig (commit 1986663): every field and its default.
OFFICIAL_DEFAULTS = {
    "output_dir": "animations/", "flag_use_half_precision": True,
    "flag_crop_driving_video": False, "device_id": 0, "flag_force_cpu": False,
    "flag_normalize_lip": False, "flag_source_video_eye_retargeting": False,
    "flag_eye_retargeting": False, "flag_lip_retargeting": False, "flag_stitching": True,
    "flag_relative_motion": True, "flag_pasteback": True, "flag_do_crop": True,
    "driving_option": "expression-friendly", "driving_multiplier": 1.0,
    "driving_smooth_observation_variance": 3e-7, "audio_priority": "driving",
    "animation_region": "all", "det_thresh": 0.15, "scale": 2.3, "vx_ratio": 0,
    "vy_ratio": -0.125, "flag_do_rot": True, "source_max_dim": 1280, "source_division": 2,
    "scale_crop_driving_video": 2.2, "vx_ratio_crop_driving_video": 0.0,
    "vy_ratio_crop_driving_video": -0.1, "server_port": 8890, "share": False,
    "server_name": "127.0.0.1", "flag_do_torch_compile": False, "gradio_temp_dir": None,
}


def parse(*argv):
  return cli.build_parser().parse_args(["-s", "a.jpg", "-d", "b.mp4", *argv])


def test_every_official_field_with_its_default():
  args = vars(parse())
  for name, default in OFFICIAL_DEFAULTS.items():
    assert name in args, name
    assert args[name] == default, (name, args[name], default)


def test_tyro_hyphenated_spellings_and_underscores():
  a = parse("--no-flag-stitching", "--driving-multiplier", "1.5", "--output-dir", "x",
            "--flag-eye-retargeting", "--scale-crop-driving-video", "2.5", "--no-flag-do-rot")
  b = parse("--no_flag_stitching", "--driving_multiplier", "1.5", "--output_dir", "x",
            "--flag_eye_retargeting", "--scale_crop_driving_video", "2.5", "--no_flag_do_rot")
  assert vars(a) == vars(b)
  assert not a.flag_stitching and a.driving_multiplier == 1.5 and a.output_dir == "x"
  assert a.flag_eye_retargeting and a.scale_crop_driving_video == 2.5 and not a.flag_do_rot


def test_help_groups_like_the_official_config(capsys):
  with pytest.raises(SystemExit):
    cli.build_parser().parse_args(["--help"])
  text = capsys.readouterr().out
  for group in ("input arguments", "inference arguments", "source crop arguments",
                "driving crop arguments", "gradio arguments", "lp_jax arguments"):
    assert group in text
  for flag in OFFICIAL_DEFAULTS:
    assert f"--{flag}" in text, flag


@pytest.fixture(scope="module")
def face_root(tmp_path_factory):
  """A pretrained_weights/ folder with the golden's synthetic official-interface ONNX models."""
  root = tmp_path_factory.mktemp("faces")
  src = os.path.join(GOLDEN_DIR, "detectors_seed0")
  for name, rel in (("det_10g.onnx", "insightface/models/buffalo_l/det_10g.onnx"),
                    ("2d106det.onnx", "insightface/models/buffalo_l/2d106det.onnx"),
                    ("landmark.onnx", "liveportrait/landmark.onnx")):
    os.makedirs(os.path.dirname(root / rel), exist_ok=True)
    shutil.copyfile(os.path.join(src, name), root / rel)
  return str(root)


def stage(face_root, *argv) -> FaceStage:
  return FaceStage.from_weights(face_root, cli.options_from_args(parse(*argv))[1])


def test_source_crop_flags_change_the_geometry_as_upstream(face_root):
  rgb = images.read_image(S0)
  base = stage(face_root)
  lmk106 = base.models.detect_faces(rgb)[0].landmark_2d_106
  default = base.source_image(rgb, S0, True)
  for argv, kwargs in ((["--scale", "2.0"], dict(scale=2.0)),
                       (["--vy_ratio", "0.1"], dict(vy_ratio=0.1)),
                       (["--no_flag_do_rot"], dict(flag_do_rot=False))):
    face = stage(face_root, *argv).source_image(rgb, S0, True)
    ref = crop_lib.crop_source_image(rgb, lmk106, **kwargs)
    np.testing.assert_array_equal(face.m_c2o, ref["M_c2o"])
    np.testing.assert_array_equal(face.crop256, ref["img_crop_256x256"])
    assert np.abs(face.m_c2o - default.m_c2o).max() > 1e-3, argv
  # vx_ratio is never forwarded by the official crop_image: no effect there, none here.
  moved = stage(face_root, "--vx_ratio", "0.2").source_image(rgb, S0, True)
  np.testing.assert_array_equal(moved.m_c2o, default.m_c2o)
  # A threshold above every score finds no face.
  with pytest.raises(MediaError, match="no face found in the source image"):
    stage(face_root, "--det_thresh", "0.999").source_image(rgb, S0, True)


def test_driving_crop_flags_change_the_box_as_upstream(face_root):
  frame = next(iter(video_reader.VideoReader(D11, max_frames=1)))
  base = stage(face_root)
  lmk = base.image_landmarks(frame)
  track = Track([lmk], [])
  default = base.driving_crop_box(track, D11)
  for argv, kwargs in ((["--scale_crop_driving_video", "2.6"], dict(scale=2.6)),
                       (["--vy_ratio_crop_driving_video", "0.2"], dict(vy_ratio=0.2))):
    box = stage(face_root, *argv).driving_crop_box(track, D11)
    np.testing.assert_array_equal(box, crop_lib.average_bbox([crop_lib.driving_bbox(lmk,
                                                                                    **kwargs)]))
    assert np.abs(box - default).max() > 1.0, argv
  same = stage(face_root, "--vx_ratio_crop_driving_video", "0.3").driving_crop_box(track, D11)
  np.testing.assert_array_equal(same, default)


@pytest.mark.parametrize("argv,words", [
    (["--batch_size", "0"], "--batch_size"),
    (["--max_frames", "0"], "--max_frames"),
    (["--driving_multiplier", "nan"], "--driving_multiplier"),
    (["--driving_multiplier", "inf"], "--driving_multiplier"),
    (["--driving_smooth_observation_variance", "-1"], "--driving_smooth_observation_variance"),
    (["--det_thresh", "2"], "--det_thresh"),
    (["--scale", "0"], "--scale"),
    (["--scale_crop_driving_video", "-1"], "--scale_crop_driving_video"),
    (["--source_division", "0"], "--source_division"),
    (["--device_id", "99"], "--device_id"),
    (["--animation_region", "nose"], "--animation_region"),
])
def test_invalid_values_one_line_nothing_written(argv, words, tmp_path, capsys):
  out = tmp_path / "out"
  try:
    rc = infer_run.run(["-s", S31, "-d", D0, "-o", str(out), "--no_flag_do_crop",
                        "-w", str(tmp_path / "no_weights"), *argv])
  except SystemExit as e:  # argparse's usage errors
    rc = e.code
  err = capsys.readouterr().err.strip().splitlines()
  assert rc == 1 and len(err) == 1 and words in err[0], err
  assert not out.exists()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
  """Random micro networks (the mechanics under test do not depend on the widths; G's small
  render is upsampled to the pipeline's 512 as the demo model's is)."""
  root = tmp_path_factory.mktemp("cli")
  return {"weights": assets.write_synthetic(str(root / "weights"), "micro"), "root": root,
          "cache": str(root / "cache")}


def infer(synthetic, *argv, out="out", wait=True):
  """infer.py's main in this process; with wait=False a real process (for signals)."""
  out_dir = synthetic["root"] / out
  if wait:
    return run_in_process(infer_run.run, ["-w", synthetic["weights"], "-o", str(out_dir), "--quiet",
                                          *argv]), out_dir
  cmd = [sys.executable, os.path.join(ROOT, "infer.py"), "-w", synthetic["weights"], "-o",
         str(out_dir), "--quiet", *argv]
  env = dict(os.environ, PYTHONPATH=ROOT, LP_JAX_CACHE=synthetic["cache"])
  if not wait:
    # SIGINT as in a terminal: a shell without job control (CI's `cmd &`) starts its children
    # with SIGINT ignored, and Python keeps an ignored SIGINT ignored.
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
                            ), out_dir
  return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env,
                        timeout=900), out_dir


def ffmpeg(*args):
  subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *map(str, args)], check=True)


def count_frames(path) -> int:
  with video_reader.VideoReader(str(path)) as reader:
    return sum(1 for _ in reader)


@pytest.mark.slow
def test_audio_shorter_than_video_keeps_every_frame(synthetic, tmp_path):
  clip = tmp_path / "short_audio.mp4"
  ffmpeg("-i", D11, "-frames:v", 16, "-an", "-c:v", "libx264", tmp_path / "v.mp4")
  ffmpeg("-i", D11, "-vn", "-t", 0.62, "-c:a", "aac", tmp_path / "a.m4a")
  ffmpeg("-i", tmp_path / "v.mp4", "-i", tmp_path / "a.m4a", "-map", "0:v", "-map", "1:a",
         "-c", "copy", clip)
  assert count_frames(clip) == 16 and probe.probe_video(str(clip)).has_audio
  proc, out = infer(synthetic, "-s", S31, "-d", clip, "--no_flag_do_crop", "--batch_size", "16",
                    out="short_audio")
  assert proc.returncode == 0, proc.stderr
  for name in ("s31--short_audio.mp4", "s31--short_audio_concat.mp4"):
    assert count_frames(out / name) == 16, name  # the official -shortest mux gives 15
    assert probe.probe_video(str(out / name)).has_audio


@pytest.mark.slow
def test_v2v_lengths_templates_and_image_outputs(synthetic, face_root, tmp_path):
  """Official v2v semantics when source and driving lengths differ, and the template files."""
  short_src = tmp_path / "src3.mp4"
  ffmpeg("-i", S13, "-frames:v", 3, "-c:v", "libx264", "-c:a", "aac", short_src)
  argv = ["-s", str(short_src), "-d", D11, "-w", synthetic["weights"], "--face_models", face_root,
          "-o", str(tmp_path / "v2v"), "--quiet", "--max_frames", "6"]
  job = infer_run.prepare(cli.build_parser().parse_args(argv))
  # The driving video is cut to the source's 3 frames before tracking, so its crop box is the
  # mean over those 3 frames only.
  assert len(job.driving.track.lmks) == 3
  assert job.write() == 0
  out = tmp_path / "v2v"
  assert count_frames(out / "src3--d11.mp4") == 3
  with open(out / "d11.pkl", "rb") as f:
    tpl = pickle.load(f)  # our own file; the keys the official pipeline reads
  assert tpl["n_frames"] == 3 and len(tpl["motion"]) == 3 and tpl["output_fps"] == 25
  assert set(tpl["motion"][0]) == {"scale", "R", "exp", "t", "kp", "x_s"}
  assert tpl["motion"][0]["exp"].shape == (1, 21, 3) and tpl["motion"][0]["R"].shape == (1, 3, 3)
  assert [c.shape for c in tpl["c_eyes_lst"]] == [(1, 2)] * 3
  assert [c.shape for c in tpl["c_lip_lst"]] == [(1, 1)] * 3
  # A driving image with a source video: every source frame animated, a one-frame template.
  proc, out = infer(synthetic, "-s", short_src, "-d", D12, "--face_models", face_root, out="v2i")
  assert proc.returncode == 0, proc.stderr
  assert count_frames(out / "src3--d12.mp4") == 3
  with open(out / "d12.pkl", "rb") as f:
    tpl = pickle.load(f)
  assert tpl["n_frames"] == 1 and tpl["output_fps"] == 25 and len(tpl["c_eyes_lst"]) == 1
  # An image driver without paste-back: the official <src>--<drv>.jpg is the concat image.
  proc, out = infer(synthetic, "-s", S0, "-d", D12, "--face_models", face_root,
                    "--no_flag_pasteback", out="i2i")
  assert proc.returncode == 0, proc.stderr
  main, concat = images.read_image(str(out / "s0--d12.jpg")), images.read_image(
      str(out / "s0--d12_concat.jpg"))
  assert main.shape == concat.shape == (512, 1536, 3)


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupt_leaves_no_file_behind(synthetic, sig, code):
  name = f"interrupt_{int(sig)}"
  proc, out = infer(synthetic, "-s", S31, "-d", D11, "--no_flag_do_crop", "--batch_size", "1",
                    out=name, wait=False)
  deadline = time.time() + 600
  while time.time() < deadline and proc.poll() is None:
    if out.exists() and any(".partial-" in f for f in os.listdir(out)):
      break
    time.sleep(0.2)
  assert proc.poll() is None, proc.communicate()
  time.sleep(1.0)  # a few frames into the encoder
  proc.send_signal(sig)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == code, err
  assert not out.exists() or os.listdir(out) == [], os.listdir(out)


def test_animals_weights_use_the_human_stitching_module(tmp_path):
  """`-w pretrained_weights --animal` resolves to liveportrait_animals (base_models_v1.1) and
  converts it with liveportrait/'s stitching module, as the official animals pipeline loads."""
  from conftest import write_official  # pylint: disable=g-import-not-at-top
  root = tmp_path / "pretrained_weights"
  write_official(str(root / "liveportrait"), seed=0, module_prefix=True)
  write_official(str(tmp_path / "animals"), seed=1, module_prefix=True)
  os.makedirs(root / "liveportrait_animals")
  shutil.move(str(tmp_path / "animals" / "base_models"),
              str(root / "liveportrait_animals" / "base_models_v1.1"))
  weights, faces = assets.resolve(str(root), animal=True)
  assert weights == str(root / "liveportrait_animals") and faces == str(root)
  with open(os.path.join(assets.converted(weights), "manifest.json")) as f:
    files = {v["file"] for v in json.load(f)["networks"].values()}
  assert "../liveportrait/retargeting_models/stitching_retargeting_module.pth" in files
  assert any(f.startswith("base_models_v1.1/") for f in files)
  with pytest.raises(FileNotFoundError, match="liveportrait_animals"):
    shutil.rmtree(root / "liveportrait_animals")
    assets.resolve(str(root), animal=True)


@pytest.mark.slow
def test_animals_pipeline(synthetic, tmp_path):
  """--animal: uncropped source, absolute driving motion normalised by the first frame, then
  stitching (official animals pipeline), checked against the formula in numpy."""
  argv = ["-s", S31, "-d", D0, "-w", synthetic["weights"], "-o", str(tmp_path / "out"), "--quiet",
          "--animal", "--max_frames", "2", "--batch_size", "2"]
  job = infer_run.prepare(cli.build_parser().parse_args(argv))
  assert not job.options.flag_do_crop and any("X-Pose" in n for n in job.notes)
  frames = list(job.frames())
  assert len(frames) == 2 and frames[0].result.shape == (512, 512, 3)
  src = {k: np.asarray(v, np.float64)
         for k, v in job.pipe.encode_source(job.source.face.crop256).info.items()}
  tpl = job.template()
  t = np.asarray(tpl.t, np.float64).copy()
  t[:, 2] = 0
  x_d = src["scale"][..., None] * (src["kp"] @ np.asarray(tpl.R, np.float64)
                                   + np.asarray(tpl.exp)) + t[:, None]
  x_s = frames[0].x_s[None].astype(np.float64)
  from lp_jax.ops.hull import convex_hull_volume  # pylint: disable=g-import-not-at-top
  mm = np.sqrt(convex_hull_volume(x_s[0])) / np.sqrt(convex_hull_volume(x_d[0]))
  expected = (x_d - x_d[:1]) * mm + x_s
  stitched = np.asarray(job.pipe.models.stitching(x_s.astype(np.float32),
                                                  expected.astype(np.float32)))
  np.testing.assert_allclose(np.stack([f.x_d for f in frames]), stitched, atol=1e-4)
  # Animal inputs the official animals pipeline refuses.
  for bad, words in ((["-s", S13, "-d", D0], "animates a source image"),
                     (["-s", S31, "-d", D12], "driving video or motion template")):
    with pytest.raises(MediaError, match=words):
      infer_run.prepare(cli.build_parser().parse_args(
          bad + ["-w", synthetic["weights"], "--animal", "-o", str(tmp_path / "bad")]))

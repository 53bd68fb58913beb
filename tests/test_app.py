# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The web app (python -m lp_jax.app) end to end: a real server on a free local port with the
tiny synthetic checkpoint and the synthetic official-interface face models, driven through
gradio_client and through a real headless chromium (Playwright), on the shared real assets."""

import inspect
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import cv2
import httpx
import numpy as np
import pytest

from conftest import ROOT, SHARED
from lp_jax.app import editing
from lp_jax.app import engine as engine_lib
from lp_jax.inference import assets

gradio_client = pytest.importorskip("gradio_client")

A = os.path.join(SHARED, "assets")
S0 = os.path.join(A, "source", "s0.jpg")
S13 = os.path.join(A, "source", "s13.mp4")
D0, D12, D1 = (os.path.join(A, "driving", n) for n in ("d0.mp4", "d12.jpg", "d1.pkl"))
LIP = os.path.join(A, "resources", "lip_array.pkl")
DETECTORS = os.path.join(SHARED, "golden", "detectors_seed0")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
MAX_FRAMES = 3


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _face_models(root: str) -> str:
  """The synthetic official-interface ONNX face models in the pretrained_weights layout."""
  for name, rel in (("det_10g.onnx", "insightface/models/buffalo_l"),
                    ("2d106det.onnx", "insightface/models/buffalo_l"),
                    ("landmark.onnx", "liveportrait")):
    os.makedirs(os.path.join(root, rel), exist_ok=True)
    shutil.copy(os.path.join(DETECTORS, name), os.path.join(root, rel, name))
  return root


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  root = tmp_path_factory.mktemp("app")
  weights = assets.write_synthetic(str(root / "weights"), "micro")
  faces = _face_models(str(root / "faces"))
  port = _free_port()
  temp_dir = root / "gradio"
  log = open(root / "server.log", "w")
  proc = subprocess.Popen(
      [sys.executable, "-m", "lp_jax.app", "-w", weights, "--face_models", faces,
       "--lip_array", LIP, "--port", str(port), "--max_frames", str(MAX_FRAMES),
       "--batch_size", "4", "--temp_dir", str(temp_dir)],
      cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
      env=dict(os.environ, PYTHONPATH=ROOT, LP_JAX_CACHE=str(root / "cache"),
               JAX_PLATFORMS="cpu", XLA_FLAGS=""))
  url = f"http://127.0.0.1:{port}/"
  deadline = time.time() + 300
  while True:
    try:
      urllib.request.urlopen(url, timeout=5)
      break
    except OSError:
      if proc.poll() is not None or time.time() > deadline:
        proc.kill()
        raise RuntimeError(f"the app did not start:\n{open(root / 'server.log').read()}")
      time.sleep(1)
  yield {"url": url, "proc": proc, "root": root, "temp_dir": temp_dir,
         "client": gradio_client.Client(url, verbose=False)}
  proc.send_signal(signal.SIGTERM)
  proc.wait(timeout=60)
  log.close()
  # The job folders go with the server (Gradio's own cache is cleaned by delete_cache).
  assert not [n for n in os.listdir(temp_dir) if n.startswith("lp_jax_app_")]


def _image(path) -> np.ndarray:
  img = cv2.imread(str(path))
  assert img is not None, path
  return img


def _video(path) -> tuple[int, tuple[int, int]]:
  cap = cv2.VideoCapture(str(path))
  n = 0
  while cap.read()[0]:
    n += 1
  return n, (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))


def _source_size(path) -> tuple[int, int]:
  """(width, height) of the app's size-limited source frame (long side <= 1280, even sides)."""
  from lp_jax.io import images, kinds, video_reader  # pylint: disable=g-import-not-at-top
  if kinds.classify(path) == "video":
    with video_reader.VideoReader(path, max_frames=1) as reader:
      frame = next(iter(reader))
  else:
    frame = images.read_image(path)
  h, w = images.resize_to_limit(frame, 1280, 2).shape[:2]
  return w, h


def _edit(client, values: dict, image=S0):
  return client.predict(**values, image=gradio_client.handle_file(image),
                        api_name="/retarget_image")


def _animate(client, driving_video=None, driving_image=None, template=None, source=S0,
             source_video=None, **settings):
  """One source and one driver by name; every other setting at the API's default."""
  f = gradio_client.handle_file
  given = dict(source_image=source, source_video=source_video, driving_video=driving_video,
               driving_image=driving_image, driving_template=template)
  return client.predict(**{k: f(v) for k, v in given.items() if v}, **settings,
                        api_name="/animate")


def _api_parameters(fn) -> dict:
  """{name: default} of an action's API parameters (Gradio fills `self`, `progress` and the
  webcam's per-session `session`)."""
  return {n: p.default for n, p in inspect.signature(fn).parameters.items()
          if n not in ("self", "progress", "session")}


def test_without_weights_the_app_runs_the_labelled_demo_model():
  engine = engine_lib.load(None)
  assert engine.weights == assets.DEMO_MODEL and not engine.synthetic
  assert engine.banner.startswith(f"DEMO MODEL ({assets.DEMO_MODEL}): lp_jax small demo model")
  assert "not the official LivePortrait" in engine.banner
  assert engine.pipe.models.input_sizes == {"image": 64, "appearance_feature_extractor": 64,
                                            "motion_extractor": 128}


def test_edit_arithmetic_matches_the_official_sequence():
  """The slider table equals the official update_delta_new_* calls, made one by one."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  for trial in range(6):
    v = {c.name: float(rng.uniform(c.minimum, c.maximum)) for c in editing.CONTROLS}
    if trial == 0:
      v.update(eyeball_direction_x=-5.0, eyebrow=-7.0)
    elif trial == 1:
      v.update(eyeball_direction_x=4.0, eyebrow=9.0)
    d = np.zeros((1, 21, 3), np.float64)
    x, y = v["eyeball_direction_x"], v["eyeball_direction_y"]
    if x > 0:
      d[0, 11, 0] += x * 0.0007
      d[0, 15, 0] += x * 0.001
    else:
      d[0, 11, 0] += x * 0.001
      d[0, 15, 0] += x * 0.0007
    d[0, 11, 1] += y * -0.001
    d[0, 15, 1] += y * -0.001
    blink = -y / 2.
    d[0, 11, 1] += blink * -0.001
    d[0, 13, 1] += blink * 0.0003
    d[0, 15, 1] += blink * -0.001
    d[0, 16, 1] += blink * 0.0003
    s = v["smile"]
    for kp, ax, c in ((20, 1, -0.01), (14, 1, -0.02), (17, 1, 0.0065), (17, 2, 0.003),
                      (13, 1, -0.00275), (16, 1, -0.00275), (3, 1, -0.0035), (7, 1, -0.0035)):
      d[0, kp, ax] += s * c
    w = v["wink"]
    d[0, 11, 1] += w * 0.001
    d[0, 13, 1] += w * -0.0003
    d[0, 17, 0] += w * 0.0003
    d[0, 17, 1] += w * 0.0003
    d[0, 3, 1] += w * -0.0003
    e = v["eyebrow"]
    if e > 0:
      d[0, 1, 1] += e * 0.001
      d[0, 2, 1] += e * -0.001
    else:
      d[0, 1, 0] += e * -0.001
      d[0, 2, 0] += e * 0.001
      d[0, 1, 1] += e * 0.0003
      d[0, 2, 1] += e * -0.0003
    d[0, 19, 0] += v["lip_variation_zero"]
    l1 = v["lip_variation_one"]
    d[0, 14, 1] += l1 * 0.001
    d[0, 3, 1] += l1 * -0.0005
    d[0, 7, 1] += l1 * -0.0005
    d[0, 17, 2] += l1 * -0.0005
    l2 = v["lip_variation_two"]
    d[0, 20, 2] += l2 * -0.001
    d[0, 20, 1] += l2 * -0.001
    d[0, 14, 1] += l2 * -0.001
    l3 = v["lip_variation_three"]
    d[0, 19, 1] += l3 * 0.001
    d[0, 19, 2] += l3 * 0.0001
    d[0, 17, 1] += l3 * -0.0001
    d[0, 5, 0] += -v["mov_x"]
    d[0, 5, 1] += v["mov_y"]
    got = editing.expression_delta(jnp.asarray([v[n] for n in editing.EXPRESSION_NAMES]))
    np.testing.assert_allclose(np.asarray(got), d[0], atol=2e-6)
  # Keypoints: mov_z * scale * (kp @ R_d + exp + delta) + t, with R_d at the added angles.
  from lp_jax.ops import keypoints  # pylint: disable=g-import-not-at-top
  src = {"kp": rng.normal(size=(1, 21, 3)).astype(np.float32),
         "exp": rng.normal(size=(1, 21, 3)).astype(np.float32) * 0.01,
         "scale": np.array([[1.3]], np.float32), "t": np.array([[0.1, -0.2, 0.05]], np.float32),
         "pitch": np.array([[5.0]], np.float32), "yaw": np.array([[-12.0]], np.float32),
         "roll": np.array([[3.0]], np.float32)}
  expr = np.zeros(len(editing.EXPRESSION_NAMES), np.float32)
  expr[editing.EXPRESSION_NAMES.index("smile")] = 1.0
  x_d = editing.edited_keypoints(src, jnp.asarray([2.0, -10.0, 4.0]), 1.1, jnp.asarray(expr))
  r_d = np.asarray(keypoints.get_rotation_matrix(7.0, -22.0, 7.0))
  delta = src["exp"] + np.asarray(editing.expression_delta(jnp.asarray(expr)))
  want = 1.1 * 1.3 * (src["kp"] @ r_d + delta) + src["t"][:, None]
  np.testing.assert_allclose(np.asarray(x_d), want, atol=1e-5)


def test_infer_progress_and_error_lines_reach_the_job():
  """infer.py's stderr from the job's own thread: progress as (done, total, fps), errors as one
  line; other threads' output is not taken."""
  import threading  # pylint: disable=g-import-not-at-top
  from lp_jax.app import animate as animate_lib  # pylint: disable=g-import-not-at-top
  seen = []
  listener = animate_lib._Listener(lambda *a: seen.append(a))  # pylint: disable=protected-access
  original = sys.stderr
  stderr = animate_lib.ThreadStderr.install()
  try:
    stderr.listen(listener)
    print("\ranimating: 1/4 frames, 0.50 fps", end="", file=sys.stderr)
    print("\ranimating: 2/4 frames, 0.75 fps", end="", file=sys.stderr)
    other = threading.Thread(target=lambda: print("error: from elsewhere", file=sys.stderr))
    other.start()
    other.join()
    print("\nanimating: 3 frames, 1.00 fps\nerror: d.pkl: not a template", file=sys.stderr)
  finally:
    stderr.listen(None)
    sys.stderr = original
  assert seen == [(1, 4, 0.5), (2, 4, 0.75), (3, None, 1.0)]
  assert listener.lines[-1] == "error: d.pkl: not a template"
  assert not [l for l in listener.lines if "elsewhere" in l]


@pytest.mark.slow
def test_retarget_image_edit_and_reset(server):
  client = server["client"]
  eye, lip = client.predict(gradio_client.handle_file(S0), 2.5, True, api_name="/source_ratios")
  assert 0 < eye < 1 and 0 < lip < 1
  base = dict(editing.DEFAULTS, eye_ratio=eye, lip_ratio=lip)
  crop0, pasted0 = (_image(p) for p in _edit(client, base))
  assert crop0.shape == (512, 512, 3)
  assert pasted0.shape[1::-1] == _source_size(S0)
  # By name, only what changes: the eye / lip ratios default to the image's own (as the page's
  # sliders after an upload), every other value to the page's default.
  crop, pasted = (_image(p) for p in client.predict(
      image=gradio_client.handle_file(S0), api_name="/retarget_image"))
  np.testing.assert_array_equal(crop, crop0)
  np.testing.assert_array_equal(pasted, pasted0)
  smile = client.predict(image=gradio_client.handle_file(S0), smile=1.0,
                         api_name="/retarget_image")
  crop1, pasted1 = (_image(p) for p in smile)
  np.testing.assert_array_equal(crop1, _image(_edit(client, dict(base, smile=1.0))[0]))
  # A redraw with the same values is bit-identical (below), so every changed value is the edit.
  # The micro networks render small (upsampled to 512): a full smile moved 13% of the values,
  # mean 0.19 and at most 15 levels.
  smiled = np.abs(crop1.astype(int) - crop0.astype(int))
  assert smiled.mean() > 0.1 and (smiled > 0).mean() > 0.05
  assert np.abs(pasted1.astype(int) - pasted0.astype(int)).max() >= 5
  # Reset returns the defaults (eye / lip: the image's own ratios), which redraw the original.
  reset = client.predict(gradio_client.handle_file(S0), 2.5, True, api_name="/reset")
  values = dict(zip(editing.CONTROL_NAMES, reset[:len(editing.CONTROLS)]))
  assert values == base and tuple(reset[-3:]) == (2.5, True, True)
  crop2, pasted2 = (_image(p) for p in _edit(client, values))
  np.testing.assert_array_equal(crop2, crop0)
  np.testing.assert_array_equal(pasted2, pasted0)
  # Users at once queue (one job at a time here) and all get their own result; the positional
  # order (the official one) works too.
  jobs = [client.submit(*[dict(base, smile=v)[n] for n in editing.CONTROL_NAMES],
                        gradio_client.handle_file(S0), 2.5, True, True,
                        api_name="/retarget_image") for v in (0.0, 0.5, 1.0)]
  crops = [_image(job.result(timeout=600)[0]) for job in jobs]
  np.testing.assert_array_equal(crops[0], crop0)
  np.testing.assert_array_equal(crops[2], crop1)
  assert 0 < np.abs(crops[1].astype(int) - crop0.astype(int)).mean() < smiled.mean()
  # The eye-ratio slider runs the eye retargeting MLP: the image changes.
  crop3, _ = (_image(p) for p in _edit(client, dict(base, eye_ratio=0.0)))
  assert np.abs(crop3.astype(int) - crop0.astype(int)).mean() > 0.1


@pytest.mark.slow
def test_api_parameters_are_named_with_the_page_defaults(server):
  os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
  from lp_jax.app.actions import Actions  # pylint: disable=g-import-not-at-top
  from lp_jax.app.webcam import Webcam  # pylint: disable=g-import-not-at-top
  api = server["client"].view_api(return_format="dict", print_info=False)["named_endpoints"]
  assert sorted(api) == ["/animate", "/reset", "/retarget_image", "/retarget_video",
                         "/source_ratios", "/webcam", "/webcam_frame"]
  listed = {name: {p["parameter_name"]: (p["parameter_has_default"], p["parameter_default"])
                   for p in api[name]["parameters"]} for name in api}
  # Every parameter has a name and a default, in the order and with the values of the action
  # (whose defaults equal the page's components, from which Gradio reads them).
  actions = {"/webcam": Webcam.frame, "/webcam_frame": Webcam.frame}
  for name in api:
    want = _api_parameters(actions.get(name) or getattr(Actions, name.lstrip("/")))
    assert list(listed[name]) == list(want), name
    assert listed[name] == {k: (True, v) for k, v in want.items()}, name
  image = listed["/retarget_image"]
  assert list(image)[:len(editing.CONTROLS)] == list(editing.CONTROL_NAMES)
  # The sliders' defaults; the eye / lip ratios default to the image's own (None).
  assert {k: image[k][1] for k in editing.CONTROL_NAMES} == dict(
      editing.DEFAULTS, eye_ratio=None, lip_ratio=None)
  assert image["image"] == (True, None)
  assert {k: image[k][1] for k in ("scale", "stitching", "do_crop")} == {
      "scale": 2.5, "stitching": True, "do_crop": True}
  assert listed["/animate"]["flag_do_crop"] == (True, True)
  assert listed["/animate"]["driving_video"] == (True, None)
  assert listed["/retarget_video"]["video"] == (True, None)
  assert listed["/retarget_video"]["scale"] == (True, 2.3)
  # A required input left out is one line.
  with pytest.raises(gradio_client.exceptions.AppError, match="upload a source portrait") as err:
    server["client"].predict(smile=1.0, api_name="/retarget_image")
  assert "\n" not in str(err.value)


@pytest.mark.slow
def test_animate_video_and_image_drivers(server):
  client = server["client"]
  video, concat, image, image_concat = _animate(client, driving_video=D0)
  assert image is None and image_concat is None
  assert _video(video) == (MAX_FRAMES, _source_size(S0))  # pasted back into s0
  assert _video(concat) == (MAX_FRAMES, (3 * 512, 512))  # driving | source | result
  video, concat, image, image_concat = _animate(client, driving_image=D12)
  assert video is None and concat is None
  assert _image(image).shape[1::-1] == _source_size(S0)
  assert _image(image_concat).shape == (512, 3 * 512, 3)
  # The source crop scale reaches infer.py's crop: a wider crop gives another source crop.
  _, _, _, wider_concat = _animate(client, driving_image=D12, scale=3.0)
  source_col = lambda img: img[:, 512:1024].astype(int)  # driving | source | result
  assert np.abs(source_col(_image(wider_concat)) - source_col(_image(image_concat))).mean() > 5
  # A source video (portrait video editing): every source frame re-animated, pasted back.
  video, concat, _, _ = _animate(client, driving_video=D0, source=None, source_video=S13)
  assert _video(video) == (MAX_FRAMES, _source_size(S13))
  assert _video(concat)[0] == MAX_FRAMES


@pytest.mark.slow
def test_retarget_video(server):
  client = server["client"]
  f = gradio_client.handle_file
  concat, result = client.predict(video=f(S13), lip_ratio=0.4, api_name="/retarget_video")
  assert _video(concat) == (MAX_FRAMES, (2 * 512, 512))  # source crop | result
  assert _video(result) == (MAX_FRAMES, _source_size(S13))
  from lp_jax.io import probe, video_reader  # pylint: disable=g-import-not-at-top
  assert probe.probe_video(result).has_audio and probe.probe_video(concat).has_audio
  concat2, result2 = client.predict(video=f(S13), lip_ratio=0.4, keep_lip_silent=True,
                                    api_name="/retarget_video")
  a = np.stack(list(video_reader.VideoReader(result)))
  b = np.stack(list(video_reader.VideoReader(result2)))
  assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).mean() > 0.01


@pytest.mark.slow
def test_bad_uploads_give_one_line_errors_and_the_server_keeps_serving(server, tmp_path):
  client = server["client"]
  not_image = tmp_path / "notes.jpg"
  not_image.write_text("this is not an image")
  with pytest.raises(gradio_client.exceptions.AppError) as err:
    _edit(client, editing.DEFAULTS, image=str(not_image))
  assert "not a readable image" in str(err.value) and "\n" not in str(err.value)
  blank = tmp_path / "blank.png"
  cv2.imwrite(str(blank), np.full((256, 256, 3), 127, np.uint8))
  with pytest.raises(gradio_client.exceptions.AppError, match="no face found"):
    _edit(client, editing.DEFAULTS, image=str(blank))
  # A pickle that would run code when loaded is refused by the allow-list unpickler.
  evil = tmp_path / "evil.pkl"
  evil.write_bytes(b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR.")
  with pytest.raises(gradio_client.exceptions.AppError) as err:
    _animate(client, template=str(evil))
  assert "evil.pkl: refused" in str(err.value) and "\n" not in str(err.value)
  assert str(server["temp_dir"]) not in str(err.value)  # no server paths in the page
  assert not (tmp_path / "pwned").exists()
  empty = tmp_path / "empty.mp4"
  empty.write_bytes(b"")
  with pytest.raises(gradio_client.exceptions.AppError):
    client.predict(video=gradio_client.handle_file(str(empty)), api_name="/retarget_video")
  assert server["proc"].poll() is None
  # The next good request still succeeds: the official pkl template drives the animation.
  video, concat, _, _ = _animate(client, template=D1)
  assert _video(video)[0] == MAX_FRAMES and _video(concat)[0] == MAX_FRAMES


@pytest.mark.slow
def test_browser_upload_and_smile_slider_changes_the_image(server, tmp_path):
  """Real chromium: upload a portrait, drag the smile slider, the result image must change."""
  if not os.path.exists(CHROMIUM):
    pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
  sync_api = pytest.importorskip("playwright.sync_api")
  with sync_api.sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
      page = browser.new_page(viewport={"width": 1400, "height": 2400})
      page.goto(server["url"], wait_until="domcontentloaded", timeout=120_000)
      banner = page.locator("#banner")
      banner.wait_for(timeout=60_000)
      assert "SYNTHETIC" in banner.inner_text()
      page.locator("#retarget_input input[type=file]").set_input_files(S0)
      result = page.locator("#retarget_result img")
      result.wait_for(timeout=240_000)  # encoded and drawn at the current sliders
      before = result.get_attribute("src")
      before_px = _fetch_image(page, before)
      assert before_px.shape == (512, 512, 3)
      page.screenshot(path=str(tmp_path / "before.png"), full_page=True)
      # Drag the smile slider's thumb from 0 to about 1.0 and release it.
      track = page.locator("#slider_smile input[type=range]")
      track.scroll_into_view_if_needed()
      box = track.bounding_box()
      y = box["y"] + box["height"] / 2
      frac = lambda v: (v + 0.3) / 1.6  # smile: [-0.3, 1.3]
      page.mouse.move(box["x"] + box["width"] * frac(0.0), y)
      page.mouse.down()
      page.mouse.move(box["x"] + box["width"] * frac(1.0), y, steps=8)
      page.mouse.up()
      value = float(page.locator("#slider_smile input[type=number]").input_value())
      assert value > 0.5
      page.wait_for_function(
          "src => { const i = document.querySelector('#retarget_result img');"
          " return i && i.src && i.src !== src; }", arg=before, timeout=240_000)
      after = result.get_attribute("src")
      after_px = _fetch_image(page, after)
      shot = tmp_path / "smile.png"
      page.screenshot(path=str(shot), full_page=True)
      assert shot.stat().st_size > 10_000
      diff = np.abs(after_px.astype(int) - before_px.astype(int)).mean()
      assert diff > 0.1, f"the image did not change (mean abs diff {diff})"
    finally:
      browser.close()


def _fetch_image(page, src: str) -> np.ndarray:
  body = page.request.get(src).body()
  img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
  assert img is not None, src
  return img


# -- the live webcam tab ----------------------------------------------------------------------

WEBCAM_FRAMES = range(0, 48, 6)  # d0's frames across its first two seconds
_STATS = re.compile(r"^([\d.]+) fps \| latency (\d+) ms \| frame (\d+)$")


def _camera_frames(tmp_path, indices) -> list[str]:
  """PNG files of d0's frames, standing in for what a camera sends."""
  from lp_jax.io import video_reader  # pylint: disable=g-import-not-at-top
  with video_reader.VideoReader(D0, max_frames=max(indices) + 1) as reader:
    frames = list(reader)
  paths = []
  for i in indices:
    path = str(tmp_path / f"d0_{i:03d}.png")
    cv2.imwrite(path, frames[i][..., ::-1])
    paths.append(path)
  return paths


def _stats(line: str) -> tuple[float, int, int]:
  """(fps, latency ms, frame count) of the tab's timing line."""
  m = _STATS.match(line)
  assert m, line
  return float(m.group(1)), int(m.group(2)), int(m.group(3))


class LiveStream:
  """The browser's side of the `/webcam` stream event, over HTTP.

  A Gradio stream event runs once per session: the first frame joins the queue, later frames
  are posted to `stream/<event_id>`, and every result comes back as a `process_streaming`
  message, which gradio_client 2.7 cannot read (a KeyError in its status table). gradio_client
  still prepares each request (the endpoint's parameters and defaults, file uploads) and reads
  each reply (downloads, the session state left out); this class only moves the messages.
  """

  def __init__(self, client, api_name: str, **settings):
    self.client, self.settings = client, settings
    self.fn_index = client._infer_fn_index(api_name, None)  # pylint: disable=protected-access
    self.endpoint = client.endpoints[self.fn_index]
    self.session_hash = uuid.uuid4().hex  # a session of its own, like a new browser tab
    self.base = client.src_prefixed  # http://host:port/gradio_api/
    self.messages = queue.Queue()
    self.event_id = None
    self._reader = None

  def _body(self, frame_path: str) -> dict:
    args = gradio_client.utils.construct_args(
        self.endpoint.parameters_info, (gradio_client.handle_file(frame_path),), self.settings)
    data = self.endpoint.process_input_files(*self.endpoint.insert_empty_state(*args))
    return {"data": list(data), "fn_index": self.fn_index, "session_hash": self.session_hash,
            "event_data": None, "trigger_id": None}

  def _read(self) -> None:
    with httpx.stream("GET", self.base + "queue/data", timeout=None,
                      params={"session_hash": self.session_hash}) as response:
      for line in response.iter_lines():
        if line.startswith("data:"):
          msg = json.loads(line[len("data:"):])
          self.messages.put(msg)
          if msg.get("msg") == "process_completed":
            return

  def send(self, frame_path: str, timeout: float = 600):
    """The reply (image path, timing line) to one camera frame."""
    body = self._body(frame_path)
    if self.event_id is None:
      response = httpx.post(self.base + "queue/join", json=body, timeout=60)
      response.raise_for_status()
      self.event_id = response.json()["event_id"]
      self._reader = threading.Thread(target=self._read, daemon=True)
      self._reader.start()
    else:
      httpx.post(self.base + f"stream/{self.event_id}", json=body,
                 timeout=60).raise_for_status()
    deadline = time.time() + timeout
    while True:
      msg = self.messages.get(timeout=max(0.1, deadline - time.time()))
      if msg.get("msg") in ("process_streaming", "process_completed"):
        assert msg.get("success", True), msg.get("output")
        return self.endpoint.process_predictions(*msg["output"]["data"])

  def close(self) -> None:
    """Ends the stream as the browser's Stop does; the server completes the event."""
    httpx.post(self.base + f"stream/{self.event_id}/close", timeout=60).raise_for_status()
    self._reader.join(60)
    assert not self._reader.is_alive()


@pytest.mark.slow
def test_webcam_frames_through_gradio_client(server, tmp_path):
  """A video file stands in for the camera: its frames one by one to `/webcam_frame`."""
  client = server["client"]
  f = gradio_client.handle_file
  paths = _camera_frames(tmp_path, WEBCAM_FRAMES)
  replies, lines = [], []
  for path in paths:
    image, line = client.predict(frame=f(path), source_image=f(S0), api_name="/webcam_frame")
    replies.append(_image(image))
    lines.append(line)
  # The page's defaults: the source is cropped and the result pasted back into it.
  assert all(r.shape[1::-1] == _source_size(S0) for r in replies)
  stats = [_stats(line) for line in lines]
  assert [n for _, _, n in stats] == list(range(1, len(paths) + 1))
  fps, latency, _ = stats[-1]
  assert fps > 0 and latency > 0
  # The animation follows the camera: each later frame's motion, relative to the first one,
  # changes the face.
  moved = [np.abs(r.astype(int) - replies[0].astype(int)).mean() for r in replies[1:]]
  assert min(moved) > 0.05, moved
  # Sessions do not mix: a second client whose first frame is the first client's last one gets
  # the rest pose (motion relative to its own first frame), not the first client's last reply.
  other = gradio_client.Client(server["url"], verbose=False)
  image, line = other.predict(frame=f(paths[-1]), source_image=f(S0), api_name="/webcam_frame")
  assert _stats(line)[2] == 1
  rest = np.abs(_image(image).astype(int) - replies[0].astype(int)).mean()
  assert rest < moved[-1] / 4, (rest, moved[-1])
  # No source: one line.
  with pytest.raises(gradio_client.exceptions.AppError, match="upload a source portrait") as err:
    client.predict(frame=f(paths[0]), api_name="/webcam_frame")
  assert "\n" not in str(err.value)


@pytest.mark.slow
def test_webcam_stream_event(server, tmp_path):
  """The `/webcam` stream event itself: one event, frames posted to it, a reply to each, the
  session's state kept from frame to frame."""
  f = gradio_client.handle_file
  paths = _camera_frames(tmp_path, WEBCAM_FRAMES[:4])
  live = LiveStream(server["client"], "/webcam", source_image=f(S0))
  replies = []
  for k, path in enumerate(paths):
    image, line = live.send(path)
    replies.append(_image(image))
    assert _stats(line)[2] == k + 1
  live.close()
  assert all(r.shape[1::-1] == _source_size(S0) for r in replies)
  assert np.abs(replies[-1].astype(int) - replies[0].astype(int)).mean() > 0.05


@pytest.mark.slow
def test_browser_webcam_animates_a_fake_camera(server, tmp_path):
  """Real chromium with a fake camera playing d0 (y4m): upload a source, start the webcam
  stream; animated frames appear, change, and the rate and latency are shown."""
  if not os.path.exists(CHROMIUM):
    pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
  sync_api = pytest.importorskip("playwright.sync_api")
  from lp_jax.io import ffmpeg  # pylint: disable=g-import-not-at-top
  clip = tmp_path / "camera.y4m"
  subprocess.run([ffmpeg.ffmpeg_exe(), "-v", "error", "-y", "-i", D0, "-frames:v", "48",
                  "-vf", "scale=320:320", "-pix_fmt", "yuv420p", str(clip)], check=True)
  camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={clip}"]
  with sync_api.sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + camera)
    try:
      page = browser.new_page(viewport={"width": 1400, "height": 1600})
      page.goto(server["url"], wait_until="domcontentloaded", timeout=120_000)
      page.locator("#banner").wait_for(timeout=60_000)
      page.locator("input[type=file]").first.set_input_files(S0)  # the Source Image tab
      page.get_by_role("tab", name="Webcam (live)").click()
      page.locator("#webcam_input").get_by_text("Click to Access Webcam").click()
      page.locator("#webcam_input").get_by_text("Record").click()
      result = page.locator("#webcam_result img")
      result.wait_for(timeout=300_000)
      seen = [result.get_attribute("src")]
      deadline = time.time() + 240
      while len(seen) < 4 and time.time() < deadline:
        page.wait_for_function(
            "src => { const i = document.querySelector('#webcam_result img');"
            " return i && i.src && i.src !== src; }", arg=seen[-1], timeout=240_000)
        seen.append(result.get_attribute("src"))
      assert len(seen) == 4, seen
      frames = [_fetch_image(page, src) for src in (seen[1], seen[-1])]
      assert frames[0].shape[1::-1] == _source_size(S0)
      assert np.abs(frames[1].astype(int) - frames[0].astype(int)).mean() > 0.05
      fps, latency, count = _stats(page.locator("#webcam_stats textarea").input_value())
      assert fps > 0 and latency > 0 and count >= 4
      page.screenshot(path=str(tmp_path / "webcam.png"), full_page=True)
      page.locator("#webcam_input").get_by_text("Stop").click()
    finally:
      browser.close()

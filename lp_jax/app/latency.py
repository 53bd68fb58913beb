# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Editing latency of the web app, measured the way a user sees it.

  python -m lp_jax.app.latency --model_config tiny --face_models FACES --source s0.jpg
  python -m lp_jax.app.latency --model_config official ...   # random weights, official shapes

Starts the app in this process on a free port and drives it with headless chromium (Playwright,
/usr/bin/chromium):
  cold: image upload -> first edited image (face detection, crop, F, M, and the compilation of
        the edit program);
  warm: slider release -> updated image, for `--repeats` smile values, each followed by W+G
        alone on one frame (`LivePortraitModels.warp_decode`) in this process;
then, in the same process, the parts: W+G, the jitted edit (keypoint arithmetic + MLPs + W+G)
and the whole action (with paste-back).
Prints one JSON line (seconds; medians over the repeats).
"""

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time

import jax

from lp_jax import errors

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def browser_latency(url: str, source: str, repeats: int, chromium: str, actions) -> dict:
  """Cold and warm editing latency in chromium; after every warm edit, W+G alone on one frame
  right away in this process (the load of a shared machine drifts, so pairs compare best)."""
  # Playwright comes with the test extra only; the app itself never needs it.
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top
  with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(url, wait_until="domcontentloaded", timeout=300_000)
    page.locator("#retarget_input").wait_for(timeout=300_000)
    start = time.perf_counter()
    page.locator("#retarget_input input[type=file]").set_input_files(source)
    page.locator("#retarget_result img").wait_for(timeout=1_200_000)
    cold = time.perf_counter() - start
    src = actions.sources.get(source, True, 2.5)
    models = actions.engine.pipe.models
    box = page.locator("#slider_smile input[type=number]")
    warm, action, w_g = [], [], []
    for i in range(repeats):
      before = page.locator("#retarget_result img").get_attribute("src")
      box.fill(f"{0.2 + 0.8 * (i + 1) / repeats:.2f}")
      start = time.perf_counter()
      box.blur()  # the number box's blur is the slider's release event
      page.wait_for_function(
          "src => { const i = document.querySelector('#retarget_result img');"
          " return i && i.src && i.src !== src; }", arg=before, timeout=1_200_000)
      warm.append(time.perf_counter() - start)
      action.append(actions.timings[-1][1])  # the retarget_image call inside the server
      start = time.perf_counter()
      jax.block_until_ready(models.warp_decode(src.feature_3d, src.x_s, src.x_s)["out"])
      w_g.append(time.perf_counter() - start)
    browser.close()
  med = statistics.median
  return {"browser_cold_upload_to_image_s": round(cold, 3),
          "browser_warm_release_to_image_s": round(med(warm), 3),
          "server_action_s": round(med(action), 3),
          "w_g_frame_s": round(med(w_g), 3),
          "warm_over_w_g": round(med([a / b for a, b in zip(warm, w_g)]), 3),
          "browser_warm_all_s": [round(w, 3) for w in warm],
          "w_g_all_s": [round(w, 3) for w in w_g]}


def parts(actions, source: str, repeats: int) -> dict:
  """W+G alone, the jitted edit, and the whole action, each warm (median)."""
  # Imported by main's environment: Gradio reads GRADIO_ANALYTICS_ENABLED at import time.
  from lp_jax.app import editing  # pylint: disable=g-import-not-at-top
  src = actions.sources.get(source, True, 2.5)
  models = actions.engine.pipe.models
  eye, lip = src.slider_ratios or (0.0, 0.0)
  values = dict(editing.DEFAULTS, eye_ratio=eye, lip_ratio=lip)
  times = {"inproc_w_g_frame_s": [], "edit_render_s": [], "edit_action_s": []}
  jax.block_until_ready(models.warp_decode(src.feature_3d, src.x_s, src.x_s)["out"])
  for i in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(models.warp_decode(src.feature_3d, src.x_s, src.x_s)["out"])
    times["inproc_w_g_frame_s"].append(time.perf_counter() - start)
    edit = editing.Edit(dict(values, smile=0.1 * (i + 1)))
    start = time.perf_counter()
    actions.renderer(src, edit)
    times["edit_render_s"].append(time.perf_counter() - start)
    args = [edit.values[n] for n in editing.CONTROL_NAMES] + [source, 2.5, True, True]
    start = time.perf_counter()
    actions.retarget_image(*args)
    times["edit_action_s"].append(time.perf_counter() - start)
  return {k: round(statistics.median(v), 3) for k, v in times.items()}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m lp_jax.app.latency", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("-w", "--weights", default=None, help="weights (default: synthetic)")
  p.add_argument("--model_config", default="tiny", help="config of the synthetic weights")
  p.add_argument("--face_models", required=True)
  p.add_argument("--source", required=True)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--chromium", default="/usr/bin/chromium")
  args = p.parse_args(argv)
  os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
  # Imported after the environment is set: Gradio reads it at import time.
  from lp_jax.app import actions as actions_lib  # pylint: disable=g-import-not-at-top
  from lp_jax.app import engine as engine_lib  # pylint: disable=g-import-not-at-top
  from lp_jax.app import layout  # pylint: disable=g-import-not-at-top

  try:
    engine = engine_lib.load(args.weights, args.face_models, None, args.model_config)
  except errors.UserError as e:  # missing or bad weights or face models
    return errors.report(e)
  with tempfile.TemporaryDirectory() as work:
    actions = actions_lib.Actions(engine, work_dir=work)
    demo = layout.build(actions)
    demo.queue(default_concurrency_limit=1)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                ssr_mode=False, quiet=True, css=layout.CSS)
    try:
      out = {"model_config": args.model_config if args.weights is None else args.weights,
             "repeats": args.repeats}
      out.update(browser_latency(f"http://127.0.0.1:{port}/", args.source, args.repeats,
                                 args.chromium, actions))
      out.update(parts(actions, args.source, args.repeats))
    finally:
      demo.close()
  print(json.dumps(out), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())

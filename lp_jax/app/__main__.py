# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`python -m lp_jax.app`: the web app (portrait animation, image retargeting and expression
editing, video retargeting).

  python -m lp_jax.app [-w pretrained_weights] [--host 127.0.0.1] [--port 8890] [--share]

Without `-w` and without ./pretrained_weights it runs the bundled demo model of `make demo` (small,
trained by `make train-demo`; not the official LivePortrait), and the page says so.
"""

import argparse
import atexit
import os
import signal
import sys
import tempfile

from lp_jax import errors
from lp_jax.inference import assets
from lp_jax.inference import runtime
from lp_jax.models import variants as model_configs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(prog="python -m lp_jax.app", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("-w", "--weights", default=None,
                 help="pretrained_weights/, its liveportrait/ folder or a converted directory "
                      "(default: ./pretrained_weights if present, else the bundled demo model)")
  p.add_argument("--face_models", default=None,
                 help="folder holding insightface/ and liveportrait/landmark.onnx (default: the "
                      "one -w points into)")
  p.add_argument("--lip_array", default=None,
                 help="the official lip_array.pkl (image driving, silent lips; default: bundled)")
  p.add_argument("--host", "--server_name", dest="host", default="127.0.0.1",
                 help="address to bind (default 127.0.0.1: this machine only)")
  p.add_argument("--port", "--server_port", "-p", dest="port", type=int, default=8890)
  p.add_argument("--share", action="store_true", help="also open a public Gradio share link")
  p.add_argument("--concurrency", type=int, default=1,
                 help="jobs running the networks at once; others queue (1 fits a CPU)")
  p.add_argument("--max_queue", type=int, default=64, help="queued requests before refusing")
  p.add_argument("--max_frames", type=int, default=None,
                 help="animate / retarget at most this many frames per job")
  p.add_argument("--batch_size", type=int, default=8, help="frames per W+G call")
  p.add_argument("--model_config", default=None,
                 help="without -w: random weights of this configs/models.py variant instead of "
                      "the demo model (timing at a model's shapes)")
  p.add_argument("--temp_dir", "--gradio_temp_dir", dest="temp_dir", default=None,
                 help="where Gradio keeps uploads and outputs (default: its own)")
  return p.parse_args(argv)


def _interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def main(argv=None) -> int:
  args = parse_args(argv)
  os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
  if args.temp_dir:
    os.environ["GRADIO_TEMP_DIR"] = args.temp_dir
  # Imported after the environment is set: Gradio reads it at import time.
  from lp_jax.app import actions as actions_lib  # pylint: disable=g-import-not-at-top
  from lp_jax.app import engine as engine_lib  # pylint: disable=g-import-not-at-top
  from lp_jax.app import layout  # pylint: disable=g-import-not-at-top

  weights = args.weights
  if weights is None and os.path.isdir(os.path.join(ROOT, "pretrained_weights", "liveportrait")):
    weights = os.path.join(ROOT, "pretrained_weights")
  runtime.enable_compilation_cache(assets.compilation_cache(None))
  try:
    if args.model_config:  # an unknown variant as one line (configs/ raise a plain ValueError)
      errors.config_variant(model_configs.get_config, args.model_config)
    engine = engine_lib.load(weights, args.face_models, args.lip_array, args.model_config,
                             args.batch_size)
  except errors.UserError as e:  # missing or bad weights, face models or lip array
    return errors.report(e)
  print(engine.banner, flush=True)
  work_dir = None
  if args.temp_dir:
    os.makedirs(args.temp_dir, exist_ok=True)
    work_dir = tempfile.mkdtemp(prefix="lp_jax_app_", dir=args.temp_dir)
  actions = actions_lib.Actions(engine, work_dir=work_dir, max_frames=args.max_frames)
  atexit.register(actions.cleanup)
  # SIGTERM shuts down like Ctrl-C: Gradio closes the server, then the job folders are removed.
  signal.signal(signal.SIGTERM, _interrupt)
  demo = layout.build(actions, args.concurrency)
  demo.queue(max_size=args.max_queue, default_concurrency_limit=args.concurrency)
  demo.launch(server_name=args.host, server_port=args.port, share=args.share, ssr_mode=False,
              css=layout.CSS, footer_links=["api"], show_error=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Host-side cost per frame of infer.py around the networks: `python -m lp_jax.bench_host`.

Times, per frame and on this machine's CPU, what no accelerator speeds up in the pipeline as it
is: decoding the driving video (ffmpeg via VideoReader), the driving crop (affine warp to 512
and resize to 256), pasting a generated 512 crop back into the source frame, and H.264 encoding
(VideoWriter) of the pasted frames. Face detection and landmark tracking need the official ONNX
models (not in this repository) and are left out. Prints one JSON line per stage.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

from lp_jax import errors
from lp_jax.io import images, video_reader, video_writer
from lp_jax.preprocess import crop as crop_lib
from lp_jax.preprocess import paste_back as paste_lib
from lp_jax.shared import SHARED_ASSETS


def per_frame(fn, items) -> float:
  """Median seconds of fn(item) over items."""
  times = []
  for item in items:
    start = time.perf_counter()
    fn(item)
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m lp_jax.bench_host", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--driving", default=os.path.join(SHARED_ASSETS, "driving", "d0.mp4"))
  parser.add_argument("--source", default=os.path.join(SHARED_ASSETS, "source", "s0.jpg"))
  parser.add_argument("--frames", type=int, default=60, help="driving frames to time")
  args = parser.parse_args(argv)
  try:
    return _time_stages(args)
  except errors.UserError as e:  # an unreadable --driving or --source
    return errors.report(e)


def _time_stages(args) -> int:
  """One JSON line per host stage, timed on `args`' driving video and source image."""
  emit = lambda rec: print(json.dumps(rec), flush=True)

  start = time.perf_counter()
  with video_reader.VideoReader(args.driving, max_frames=args.frames) as reader:
    frames = list(reader)
  decode_s = (time.perf_counter() - start) / len(frames)
  h, w = frames[0].shape[:2]
  emit({"stage": "decode", "ms_per_frame": round(1e3 * decode_s, 2), "size": [w, h]})

  side = min(h, w) * 0.9  # a driving face box (the landmark-derived box in infer.py)
  bbox = [(w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2]
  crop = lambda f: crop_lib.resize_linear(crop_lib.crop_image_by_bbox(f, bbox)["img_crop"])
  emit({"stage": "driving_crop_512_to_256", "ms_per_frame": round(1e3 * per_frame(crop, frames),
                                                                  2)})

  source = images.read_image(args.source)
  sh, sw = source.shape[:2]
  s_side = min(sh, sw) * 0.6
  box = [(sw - s_side) / 2, (sh - s_side) / 2, (sw + s_side) / 2, (sh + s_side) / 2]
  m_c2o = crop_lib.crop_image_by_bbox(source, box)["M_c2o"]
  mask = paste_lib.prepare_paste_back(paste_lib.make_crop_mask(), m_c2o, (sw, sh))
  generated = [np.ascontiguousarray(crop_lib.resize_linear(f, 512)) for f in frames]
  pasted = [paste_lib.paste_back(g, m_c2o, source, mask) for g in generated[:1]]
  emit({"stage": "paste_back", "ms_per_frame": round(1e3 * per_frame(
      lambda g: pasted.append(paste_lib.paste_back(g, m_c2o, source, mask)), generated), 2),
        "size": [sw, sh]})

  with tempfile.TemporaryDirectory() as tmp:
    for name, seq in (("encode_512", generated), ("encode_pasted", pasted[1:])):
      start = time.perf_counter()
      with video_writer.VideoWriter(os.path.join(tmp, f"{name}.mp4"), fps=25) as writer:
        for f in seq:
          writer.write(f)
      emit({"stage": name, "ms_per_frame": round(1e3 * (time.perf_counter() - start) / len(seq),
                                                 2), "size": list(seq[0].shape[1::-1])})
  return 0


if __name__ == "__main__":
  sys.exit(main())

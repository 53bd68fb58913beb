# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Face models, JAX against onnxruntime, in one process: `python -m lp_jax.bench.faces`.

Tracks the 203 landmarks over the frames of a driving clip (what `infer.py` does once per driving
frame: the upright crop on the host, then landmark.onnx), detects faces with their 106 points on
its first frame, and runs each model alone on its input, with both backends alternating in
rounds so that a noisy machine slows both alike. Prints one JSON line per measurement (median
ms, per frame for tracking) with the ratio jax / onnxruntime, then a table.

  python -m lp_jax.bench.faces --face_models pretrained_weights --clip driving.mp4
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
from lp_jax.bench import machine
from lp_jax.detect import models as face_models
from lp_jax.detect import scrfd
from lp_jax.io import video_reader
from lp_jax.shared import SHARED, SHARED_ASSETS

BACKENDS = scrfd.BACKENDS


def parse(argv):
  p = argparse.ArgumentParser(prog="python -m lp_jax.bench.faces", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--face_models", default=os.path.join(SHARED, "golden", "detectors_seed0"),
                 help="pretrained_weights/ folder, or a flat folder of the three ONNX files")
  p.add_argument("--clip", default=os.path.join(SHARED_ASSETS, "driving", "d0.mp4"),
                 help="driving clip whose frames are tracked")
  p.add_argument("--frames", type=int, default=48, help="frames tracked per round")
  p.add_argument("--rounds", type=int, default=5, help="alternations of the two backends")
  return p.parse_args(argv)


def weights_layout(folder: str) -> str:
  """A pretrained_weights/ folder for the models, linking a flat folder's files into one."""
  if face_models.available(folder):
    return folder
  flat = {os.path.basename(f): f for f in face_models.FILES}
  if not all(os.path.isfile(os.path.join(folder, name)) for name in flat):
    raise errors.MissingFileError(f"{folder}: neither a pretrained_weights/ folder with the face "
                                  f"models nor a folder holding {', '.join(flat)}")
  root = tempfile.mkdtemp(prefix="lp_faces_")
  for name, rel in flat.items():
    os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
    os.symlink(os.path.abspath(os.path.join(folder, name)), os.path.join(root, rel))
  return root


def timed(fn, repeats: int = 1) -> float:
  start = time.perf_counter()
  for _ in range(repeats):
    fn()
  return (time.perf_counter() - start) / repeats


def measurements(models, frames: list) -> dict:
  """name -> (callable, units per call): the timed jobs of one backend."""
  first = frames[0]
  faces = models.detect_faces(first)
  if not faces:
    raise errors.InputError("no face found in the clip's first frame")
  lmk106 = faces[0].landmark_2d_106
  bgr = np.ascontiguousarray(first[..., ::-1])
  det_blob, _ = models.detector.preprocess(bgr)
  lmk_input, _ = models.lmk203.preprocess(first, lmk106)
  return {
      "track_203_per_frame": (lambda: models.track(frames, lmk106), len(frames)),
      "detect_with_106": (lambda: models.detect_faces(first), 1),
      "det_10g_network": (lambda: models.detector.session.run(
          None, {models.detector.input_name: det_blob}), 1),
      "landmark_network": (lambda: models.lmk203.session.run(
          None, {models.lmk203.input_name: lmk_input}), 1),
  }


def main(argv=None) -> int:
  args = parse(argv)
  try:
    root = weights_layout(args.face_models)
    with video_reader.VideoReader(args.clip, max_frames=args.frames) as reader:
      frames = list(reader)
    if not frames:
      raise errors.InputError(f"{args.clip}: no frames")
    jobs = {b: measurements(face_models.FaceModels.from_weights_dir(root, backend=b), frames)
            for b in BACKENDS}
  except errors.UserError as e:
    return errors.report(e)
  info = {"event": "machine", "processor": machine.processor()["model"],
          "cores": machine.available_cores(), "frames": len(frames)}
  print(json.dumps(info), flush=True)
  for b in BACKENDS:  # warm-up: compiles (JAX) and first-run allocations (both)
    for fn, _ in jobs[b].values():
      fn()
  times = {b: {name: [] for name in jobs[b]} for b in BACKENDS}
  for _ in range(args.rounds):
    for name in jobs[BACKENDS[0]]:
      for b in BACKENDS:
        fn, units = jobs[b][name]
        times[b][name].append(timed(fn) / units)
  rows = []
  for name in jobs[BACKENDS[0]]:
    ms = {b: 1e3 * statistics.median(times[b][name]) for b in BACKENDS}
    record = {"event": "face_model_time", "job": name, "jax_ms": round(ms["jax"], 3),
              "onnxruntime_ms": round(ms["onnxruntime"], 3),
              "ratio_jax_over_onnxruntime": round(ms["jax"] / ms["onnxruntime"], 3)}
    print(json.dumps(record), flush=True)
    rows.append(record)
  print(f"\n{'job':24s} {'jax ms':>9s} {'ort ms':>9s} {'jax/ort':>8s}")
  for r in rows:
    print(f"{r['job']:24s} {r['jax_ms']:9.3f} {r['onnxruntime_ms']:9.3f} "
          f"{r['ratio_jax_over_onnxruntime']:8.3f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

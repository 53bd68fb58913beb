# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""End-to-end frames per second of an animation with paste-back: `python -m lp_jax.bench_e2e`.

  python -m lp_jax.bench_e2e [--null_networks] [--frame_size 1280x720] [--preset ultrafast]

A real driving clip (by default the bundled 512x512 `d0.mp4`) animates a source portrait pasted
into a larger frame (by default the bundled `s12_crop.jpg` on a 1280x720 canvas), through the
code infer.py runs: the driving frames decoded and cropped (`DrivingInput`), the networks
(`LivePortrait.animate`), the paste-back into the source frame, and H.264 encoding
(`VideoWriter`) of the pasted frames. infer.py also writes the [driving | source | result]
concatenation as a second video; the bench writes the animation only, as a stream would.

Encoding: x264 ultrafast with zerolatency tuning, and the RGB frames converted to yuv420p by
OpenCV before the pipe (`--rgb_to_yuv opencv`): what a live stream's encoder would do. infer.py
keeps the official writer (x264's defaults, ffmpeg's conversion); the stage table also times
ffmpeg's conversion, for comparison.

Networks: `--null_networks` replaces them by instant functions of the same shapes
(lp_jax.bench.null_networks), so what is left is the host's share: the frame rate the host allows
a GPU to reach. Otherwise random weights of `--model_config` (official shapes by default) or
`--weights`. The source's face box is the pasted portrait (no face models needed).

Prints JSON lines: the per-stage cost measured alone (ms per frame, same process), then one line
per timed run, then a table; the last line is JSON with "fps" (median over `--repeats` runs after
one untimed warm-up run that compiles everything).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

from lp_jax import errors
from lp_jax.inference import driving_stream
from lp_jax.inference.faces import FaceStage, SourceFace
from lp_jax.inference.options import AnimationOptions
from lp_jax.io import ffmpeg, images, video_reader, video_writer
from lp_jax.io.errors import MediaError, one_line
from lp_jax.preprocess import crop as crop_lib
from lp_jax.preprocess import paste_back as paste_lib

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resources", "demo")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")
TUNES = ("zerolatency", "film", "fastdecode", "none")


def frame_size(text: str) -> tuple[int, int]:
  try:
    width, height = (int(v) for v in text.lower().split("x"))
  except ValueError:
    raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 1280x720") from None
  if width < 64 or height < 64:
    raise argparse.ArgumentTypeError(f"{text!r}: sides of at least 64 pixels expected")
  return width, height


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(prog="python -m lp_jax.bench_e2e", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--driving", default=os.path.join(DEMO, "d0.mp4"), help="driving video")
  p.add_argument("--source", default=os.path.join(DEMO, "s12_crop.jpg"),
                 help="source portrait, pasted into a --frame_size canvas")
  p.add_argument("--frame_size", type=frame_size, default=(1280, 720), help="WIDTHxHEIGHT")
  p.add_argument("--frames", type=int, default=None, help="driving frames per run (all)")
  p.add_argument("--null_networks", action="store_true",
                 help="instant networks of the same shapes: the host's ceiling")
  p.add_argument("--model_config", default="official",
                 help="random weights of this config (lp_jax.models.variants) unless --weights")
  p.add_argument("-w", "--weights", default=None, help="weights for the networks")
  p.add_argument("--batch_size", type=int, default=8, help="frames per W+G call")
  p.add_argument("--preset", choices=PRESETS, default="ultrafast",
                 help="libx264 preset of the encoder (infer.py keeps x264's default, medium)")
  p.add_argument("--tune", choices=TUNES, default="zerolatency",
                 help="libx264 tuning (none: x264's default, as infer.py); zerolatency drops "
                      "the frame look-ahead, as a live stream's encoder does")
  p.add_argument("--rgb_to_yuv", choices=video_writer.RGB_TO_YUV, default="opencv",
                 help="who converts the frames to the encoder's yuv420p: OpenCV before the "
                      "pipe (a stream's choice: 10x cheaper) or ffmpeg's swscale (infer.py, as "
                      "the official writer); the stage table times both")
  p.add_argument("--loops", type=int, default=4,
                 help="the driving clip played this many times in a row per run (a longer "
                      "video: the rate of a steady stream, start-up amortised)")
  p.add_argument("--repeats", type=int, default=3, help="timed runs (median reported)")
  return p.parse_args(argv)


def source_frame(path: str, size: tuple[int, int]) -> tuple[np.ndarray, list[float]]:
  """The portrait scaled to 80% of the frame's height on a blurred, stretched copy of itself,
  and its box [left, top, right, bottom] in the frame."""
  photo = images.read_image(path)
  width, height = size
  canvas = cv2.GaussianBlur(cv2.resize(photo, size, interpolation=cv2.INTER_LINEAR), (0, 0), 15)
  side = int(0.8 * min(height, width))
  ph, pw = photo.shape[:2]
  scale = side / max(ph, pw)
  pw, ph = max(1, round(pw * scale)), max(1, round(ph * scale))
  left, top = (width - pw) // 2, (height - ph) // 2
  canvas[top:top + ph, left:left + pw] = cv2.resize(photo, (pw, ph), interpolation=cv2.INTER_AREA)
  return canvas, [left, top, left + pw, top + ph]


def build_pipeline(args):
  """(LivePortrait, a description of its networks)."""
  # Imported here (start-up time): the networks load JAX and Flax, the argument checks do not.
  from lp_jax.inference.pipeline import LivePortrait  # pylint: disable=import-outside-toplevel
  if args.null_networks:
    # Imported here: only this option uses them.
    from lp_jax.bench.null_networks import NullModels  # pylint: disable=import-outside-toplevel
    return (LivePortrait(NullModels(args.model_config), batch_size=args.batch_size),
            f"null networks of the {args.model_config} shapes")
  if args.weights:
    return LivePortrait.from_pretrained(args.weights, batch_size=args.batch_size), args.weights
  # Imported here: the app's module is needed only for random weights.
  from lp_jax.app.engine import synthetic_weights  # pylint: disable=import-outside-toplevel
  return (LivePortrait.from_pretrained(synthetic_weights(args.model_config),
                                       batch_size=args.batch_size),
          f"random weights of the {args.model_config} config")


def encoder(args) -> dict:
  """VideoWriter's encoder settings from the arguments."""
  return {"preset": args.preset, "tune": None if args.tune == "none" else args.tune,
          "rgb_to_yuv": args.rgb_to_yuv}


def looped_clip(path: str, loops: int, folder: str) -> str:
  """`path` played `loops` times in a row, as one file (stream copy: no re-encoding)."""
  if loops == 1:
    return path
  out = os.path.join(folder, "driving" + os.path.splitext(path)[1])
  proc = subprocess.run([ffmpeg.ffmpeg_exe(), "-nostdin", "-v", "error", "-stream_loop",
                         str(loops - 1), "-i", path, "-map", "0:V:0", "-c", "copy", out],
                        capture_output=True, text=True)
  if proc.returncode != 0:
    raise MediaError(f"{path}: cannot be looped ({one_line(proc.stderr)})")
  return out


def per_frame_ms(fn, items) -> float:
  """Median milliseconds of fn(item) over items (after one untimed call)."""
  fn(items[0])
  times = []
  for item in items:
    start = time.perf_counter()
    fn(item)
    times.append(time.perf_counter() - start)
  return round(1e3 * statistics.median(times), 3)


def stage_costs(args, pipe, source, face, driving, tmp) -> list[dict]:
  """Each stage alone, per frame."""
  rows = []
  start = time.perf_counter()
  with video_reader.VideoReader(driving.path, max_frames=args.frames) as reader:
    frames = list(reader)
  rows.append({"stage": "decode", "ms_per_frame": round(
      1e3 * (time.perf_counter() - start) / len(frames), 3), "size": list(frames[0].shape[1::-1])})
  crops = [c for c, _ in driving.frames()]
  rows.append({"stage": "driving_crop", "ms_per_frame": per_frame_ms(
      lambda f: crop_lib.resize_linear(f) if driving.crop_box is None else
      driving_stream.faces_lib.crop_driving(f, driving.crop_box), frames)})

  enc = pipe.encode_source(face.crop256)
  batch = np.stack(crops[:pipe.batch_size])

  def networks(_):
    motion = pipe.motion_of_frames(batch)
    return pipe.decoder(enc.feature_3d, enc.x_s, motion["x_s"])
  rendered = networks(None)
  rows.append({"stage": "networks (M, W+G)", "ms_per_frame": round(per_frame_ms(
      networks, [None] * 5) / len(batch), 3), "batch": len(batch)})

  paste = paste_lib.PastedFrame(face.m_c2o, source)
  mask = paste_lib.frame_mask(face.m_c2o, source)
  rows.append({"stage": "paste_back", "ms_per_frame": per_frame_ms(paste, list(rendered)),
               "size": list(source.shape[1::-1])})
  rows.append({"stage": "paste_back (plain cv2 path)", "ms_per_frame": per_frame_ms(
      lambda c: paste_lib.paste_back(c, face.m_c2o, source, mask), list(rendered)),
      "reference": True})
  pasted = [paste(rendered[i % len(rendered)]) for i in range(len(frames))]
  for i, image in enumerate(pasted):  # moving content, as in the animation
    image[:, :, i % 3] = np.roll(image[:, :, i % 3], i, axis=1)
  settings = encoder(args)
  other = [c for c in video_writer.RGB_TO_YUV if c != args.rgb_to_yuv][0]
  for rgb_to_yuv, stage in ((args.rgb_to_yuv, "encode"), (other, f"encode ({other} rgb->yuv)")):
    settings["rgb_to_yuv"] = rgb_to_yuv
    start = time.perf_counter()
    with video_writer.VideoWriter(os.path.join(tmp, "encode.mp4"), 25, **settings) as w:
      for image in pasted:
        w.write(image)
    rows.append({"stage": stage, "ms_per_frame": round(
        1e3 * (time.perf_counter() - start) / len(pasted), 3), **settings})
    if stage != "encode":
      rows[-1]["reference"] = True  # another choice, not in the sum of stages
  return rows


def timed_run(args, pipe, source, face, driving, path) -> dict:
  """One animation, decode to encoded file, timed as a whole."""
  # Imported here (start-up time), as in build_pipeline.
  from lp_jax.inference.pipeline import SourceImage  # pylint: disable=import-outside-toplevel
  start = time.perf_counter()
  first = None
  n = 0
  with video_writer.VideoWriter(path, driving.fps, **encoder(args)) as writer:
    for frame in pipe.animate(SourceImage(source, face), driving, AnimationOptions(),
                              paste_back=True):
      writer.write(frame.result, copy=False)  # as infer.py: each result is a new array
      n += 1
      if first is None:
        first = time.perf_counter() - start
  seconds = time.perf_counter() - start
  return {"frames": n, "seconds": round(seconds, 3), "fps": round(n / seconds, 2),
          "first_frame_s": round(first, 3)}


def run(args) -> int:
  emit = lambda rec: print(json.dumps(rec), flush=True)
  source, box = source_frame(args.source, args.frame_size)
  cropped = crop_lib.crop_image_by_bbox(source, box, dsize=512)
  face = SourceFace(crop_lib.resize_area(cropped["img_crop"]), m_c2o=cropped["M_c2o"],
                    m_o2c=cropped["M_o2c"])
  no_faces = FaceStage(None, "the bench runs without them: give it a square driving clip")
  # Checked as given (errors name the user's file), then played --loops times.
  driving_stream.prepare(args.driving, "video", AnimationOptions(), no_faces)
  with tempfile.TemporaryDirectory() as tmp:
    clip = looped_clip(args.driving, args.loops, tmp)
    driving = driving_stream.prepare(clip, "video", AnimationOptions(), no_faces,
                                     max_frames=args.frames)
    pipe, networks = build_pipeline(args)
    emit({"networks": networks, "frame_size": list(args.frame_size), "driving": args.driving,
          "loops": args.loops, "frames": driving.info.n_frames if args.frames is None
          else min(args.frames, driving.info.n_frames), "batch_size": pipe.batch_size,
          **encoder(args)})
    stages = stage_costs(args, pipe, source, face, driving, tmp)
    for row in stages:
      emit(row)
    timed_run(args, pipe, source, face, driving, os.path.join(tmp, "warmup.mp4"))
    runs = []
    for i in range(args.repeats):
      runs.append(timed_run(args, pipe, source, face, driving, os.path.join(tmp, f"{i}.mp4")))
      emit({"run": i, **runs[-1]})
  fps = statistics.median(r["fps"] for r in runs)
  total = sum(r["ms_per_frame"] for r in stages if not r.get("reference"))
  print(f"\n{'stage':32s} ms/frame (alone)", file=sys.stderr)
  for row in stages:
    print(f"{row['stage']:32s} {row['ms_per_frame']:8.2f}"
          f"{'  (for comparison, not summed)' if row.get('reference') else ''}", file=sys.stderr)
  print(f"{'sum of stages':32s} {total:8.2f}  ({1e3 / total:.1f} fps if nothing overlapped)",
        file=sys.stderr)
  print(f"{'end to end':32s} {1e3 / fps:8.2f}  ({fps:.1f} fps, median of {len(runs)} runs)",
        file=sys.stderr)
  emit({"fps": fps, "ms_per_frame": round(1e3 / fps, 3), "sum_of_stages_ms": round(total, 3),
        "networks": networks})
  return 0


def main(argv=None) -> int:
  args = parse_args(argv)
  if min(args.batch_size, args.repeats, args.loops, args.frames or 1) < 1:
    return errors.report(errors.UserError("--batch_size, --repeats, --loops and --frames must "
                                          "be at least 1"))
  try:
    return run(args)
  except errors.UserError as e:
    return errors.report(e)


if __name__ == "__main__":
  sys.exit(main())

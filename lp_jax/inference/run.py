# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`infer.py`: animate an image with a driving video, image or motion template.

Inputs are checked before the weights are loaded, every error is one line on stderr with exit
status 1, and outputs appear only when complete (temporary names, then renames).
"""

import argparse
import dataclasses
import json
import os
import sys
import time
import warnings

import jax
import numpy as np

from lp_jax import templates
from lp_jax.inference import assets
from lp_jax.inference.cli import add_animation_flags, options_from_args
from lp_jax.inference.driving import Ratios
from lp_jax.inference.pipeline import DrivingChunk, LivePortrait, Progress, concat_frame, to256
from lp_jax.io import media

NOT_YET = "is not available in lp_jax yet"


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="infer.py", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("-s", "--source", required=True, help="source image (a face crop)")
  p.add_argument("-d", "--driving", required=True,
                 help="driving video, driving image, or motion template (.pkl official, .npz)")
  p.add_argument("-o", "--output_dir", default="animations", help="where results go")
  p.add_argument("-w", "--weights", default="pretrained_weights",
                 help="pretrained_weights/, its liveportrait/ folder, or a converted directory")
  p.add_argument("--batch_size", type=int, default=8,
                 help="driving frames per jitted W+G call (rounded up to the device count)")
  p.add_argument("--lip_array", default=None,
                 help="the official lip_array.pkl (needed for image driving with relative motion)")
  p.add_argument("--save_template", choices=("npz", "pkl", "none"), default="npz",
                 help="write the driving motion template: ours (npz) or the official pkl")
  p.add_argument("--max_frames", type=int, default=None,
                 help="animate at most this many driving frames")
  p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
  p.add_argument("--compilation_cache", default=os.path.join(assets.cache_root(), "jax"),
                 help="JAX persistent compilation cache ('' disables it)")
  add_animation_flags(p)
  return p


def enable_compilation_cache(path: str) -> None:
  """A second run loads its executables from disk instead of compiling them again."""
  if path:
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def stem(path: str) -> str:
  return os.path.splitext(os.path.basename(path.rstrip("/")))[0]


def check_inputs(args, options):
  """Classifies and validates the inputs before any weights are loaded."""
  src_kind = media.classify(args.source)
  drv_kind = media.classify(args.driving)
  if src_kind == "video":
    raise media.MediaError(f"{args.source}: a source video (video-to-video editing) {NOT_YET}")
  if src_kind != "image":
    raise media.MediaError(f"{args.source}: the source must be an image")
  if options.flag_do_crop:
    raise media.MediaError(
        f"{args.source}: cropping the source needs the face detectors, which {NOT_YET[3:]}; "
        "pass --no_flag_do_crop with a source that is already a face crop")
  source = media.resize_to_limit(media.read_image(args.source), options.source_max_dim,
                                 options.source_division)
  if drv_kind == "video":
    info = media.probe_video(args.driving)
    if options.flag_crop_driving_video or not info.is_square:
      raise media.MediaError(
          f"{args.driving}: cropping the driving video ({info.width}x{info.height}"
          f"{'' if info.is_square else ', not square'}) needs the face detectors, which "
          f"{NOT_YET[3:]}; use a square, already-cropped driving video")
    return source, drv_kind, info
  if drv_kind == "image":
    image = media.read_image(args.driving)
    if options.flag_crop_driving_video or image.shape[0] != image.shape[1]:
      raise media.MediaError(f"{args.driving}: cropping the driving image needs the face "
                             f"detectors, which {NOT_YET[3:]}; use a square face crop")
    if options.flag_relative_motion and not args.lip_array:
      raise media.MediaError(f"{args.driving}: image driving with relative motion needs the "
                             "official neutral-lip constant: pass --lip_array lip_array.pkl")
    return source, drv_kind, image
  tpl = templates.load_template(args.driving)
  if args.max_frames:
    tpl = templates.MotionTemplate(**{
        f.name: (v[:args.max_frames] if isinstance(v, np.ndarray) else v)
        for f in dataclasses.fields(tpl) for v in [getattr(tpl, f.name)]})
  return source, drv_kind, tpl


def template_chunks(tpl: templates.MotionTemplate, batch: int):
  ratios = tpl.eye_ratios is not None and tpl.lip_ratios is not None
  for i in range(0, tpl.n_frames, batch):
    sl = slice(i, i + batch)
    motion = {k: v[sl] for k, v in tpl.motion().items()}
    yield DrivingChunk(motion, None,
                       Ratios(tpl.eye_ratios[sl], tpl.lip_ratios[sl]) if ratios else None)


def run(argv=None) -> int:
  args = build_parser().parse_args(argv)
  if args.max_frames is not None and args.max_frames < 1:
    print("error: --max_frames must be positive", file=sys.stderr)
    return 1
  # The audio mux runs ffmpeg in a subprocess; JAX warns about forking, but the child only
  # execs ffmpeg and never touches JAX.
  warnings.filterwarnings("ignore", message="os.fork", category=RuntimeWarning)
  try:
    return _run(args)
  except (media.MediaError, templates.TemplateError, ValueError, FileNotFoundError) as e:
    print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
    return 1


def _run(args) -> int:
  options = options_from_args(args)
  source_rgb, drv_kind, driving = check_inputs(args, options)
  lip_array = templates.load_lip_array(args.lip_array) if args.lip_array else None
  enable_compilation_cache(args.compilation_cache)
  start = time.perf_counter()
  pipe = LivePortrait.from_pretrained(args.weights, batch_size=args.batch_size)
  pipe.lip_array = lip_array
  log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
  if pipe.synthetic:
    log(f"warning: {args.weights} holds synthetic, untrained weights: the output shows that "
        "the pipeline runs, not what LivePortrait looks like")
  notes = ["paste-back is off: the source was not cropped (needs the face detectors)"]
  if options.flag_normalize_lip or options.flag_eye_retargeting or options.flag_lip_retargeting:
    if drv_kind != "template":
      notes.append("landmark features are off: landmark.onnx " + NOT_YET)
  source = pipe.encode_source(source_rgb, to256(source_rgb))

  name = f"{stem(args.source)}--{stem(args.driving)}"
  out_dir = os.path.abspath(args.output_dir)
  if drv_kind == "image":
    crops = to256(driving)[None]
    chunk = DrivingChunk(pipe.motion_of_frames(crops), crops)
    (frames, _), = pipe.animate(source, iter([chunk]), options, driving_is_video=False,
                                notes=notes)
    written = [media.write_image(os.path.join(out_dir, f"{name}.jpg"), frames[0]),
               media.write_image(os.path.join(out_dir, f"{name}_concat.jpg"),
                                 concat_frame(crops[0], source.crop256, frames[0]))]
    motion = {k: np.asarray(v) for k, v in chunk.motion.items()}
    written += save_template(args, out_dir, motion, 25)
    report(log, notes, written, 1, time.perf_counter() - start, None)
    return 0

  reader = None
  if drv_kind == "video":
    reader = media.VideoReader(args.driving, max_frames=args.max_frames)
    chunks, fps, total = pipe.frames_to_chunks(iter(reader)), driving.fps_int, None
    audio = args.driving if driving.has_audio else None
  else:
    chunks, fps, total = template_chunks(driving, pipe.batch_size), driving.output_fps, \
        driving.n_frames
    audio = None
  progress = Progress(total, args.quiet)
  motion_parts = []
  main = media.VideoWriter(os.path.join(out_dir, f"{name}.mp4"), fps, audio_from=audio)
  concat = media.VideoWriter(os.path.join(out_dir, f"{name}_concat.mp4"), fps,
                             audio_from=audio)
  written = []
  try:
    for frames, chunk in pipe.animate(source, chunks, options, notes=notes):
      for i, frame in enumerate(frames):
        main.write(frame)
        drv256 = None if chunk.crops256 is None else chunk.crops256[i]
        concat.write(concat_frame(drv256, source.crop256, frame))
      if drv_kind == "video":
        motion_parts.append({k: np.asarray(v) for k, v in chunk.motion.items()})
      progress.update(len(frames))
    progress.close()
    written = [main.close(), concat.close()]
    if motion_parts:
      motion = {k: np.concatenate([p[k] for p in motion_parts]) for k in motion_parts[0]}
      written += save_template(args, out_dir, motion, fps)
  except BaseException:
    main.abort()
    concat.abort()
    for path in written:
      os.remove(path)
    raise
  finally:
    if reader is not None:
      reader.close()
  report(log, notes, written, progress.done, time.perf_counter() - start,
         progress.first_frame_s)
  return 0


def save_template(args, out_dir, motion: dict, fps: int) -> list[str]:
  """The driving video's motion template, next to the results (never beside the input)."""
  if args.save_template == "none":
    return []
  tpl = templates.MotionTemplate(output_fps=int(fps), scale=motion["scale"], R=motion["R"],
                                 exp=motion["exp"], t=motion["t"], kp=motion.get("kp"),
                                 x_s=motion.get("x_s"))
  base = os.path.join(out_dir, f"{stem(args.driving)}_motion")
  if args.save_template == "pkl":
    return [templates.save_template_official_pkl(base + ".pkl", tpl)]
  return [templates.save_template(base + ".npz", tpl)]


def report(log, notes, written, frames, seconds, first_frame_s):
  for note in notes:
    log(f"note: {note}")
  for path in written:
    log(f"wrote {path}")
  log(json.dumps({"frames": frames, "seconds": round(seconds, 2),
                  "time_to_first_frame_s": None if first_frame_s is None
                  else round(first_frame_s, 2)}))

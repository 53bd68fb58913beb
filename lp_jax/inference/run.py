# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`infer.py`: animate a source image or video with a driving video, image or motion template.

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
from lp_jax.inference import driving_input
from lp_jax.inference import source_video
from lp_jax.inference.cli import add_animation_flags, options_from_args
from lp_jax.inference.driving import Ratios, video_source_keypoints
from lp_jax.inference.faces import FaceStage, SourceFace
from lp_jax.inference.options import AnimationOptions
from lp_jax.inference.pipeline import LivePortrait, Progress, concat_frame
from lp_jax.io import media
from lp_jax.preprocess import paste_back as paste_back_lib

# The feathered 512x512 crop mask, generated once (only its warp depends on the frame).
CROP_MASK = paste_back_lib.make_crop_mask()


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="infer.py", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("-s", "--source", required=True,
                 help="source image or video (cropped to the face unless --no_flag_do_crop)")
  p.add_argument("-d", "--driving", required=True,
                 help="driving video, driving image, or motion template (.pkl official, .npz)")
  p.add_argument("-o", "--output_dir", default="animations", help="where results go")
  p.add_argument("-w", "--weights", default="pretrained_weights",
                 help="pretrained_weights/, its liveportrait/ folder, or a converted directory")
  p.add_argument("--face_models", default=None,
                 help="pretrained_weights/ folder holding insightface/ and liveportrait/"
                      "landmark.onnx (default: the one -w points into, if any)")
  p.add_argument("--gif", action="store_true", help="also write <src>--<drv>.gif")
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


def check_kinds(args) -> tuple[str, str]:
  src_kind = media.classify(args.source)
  drv_kind = media.classify(args.driving)
  if src_kind not in ("image", "video"):
    raise media.MediaError(f"{args.source}: the source must be an image or a video")
  return src_kind, drv_kind


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
  src_kind, drv_kind = check_kinds(args)
  start = time.perf_counter()
  log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
  # Everything that can fail on the inputs runs before the weights load.
  weights, face_root = assets.resolve(args.weights)
  faces = FaceStage.from_weights(args.face_models or face_root)
  driving = driving_input.prepare(args.driving, drv_kind, options, faces,
                                  max_frames=args.max_frames)
  if options.flag_relative_motion and not driving.is_video and not args.lip_array:
    raise media.MediaError(f"{args.driving}: a single driving frame with relative motion needs "
                           "the official neutral-lip constant: pass --lip_array lip_array.pkl")
  lip_array = templates.load_lip_array(args.lip_array) if args.lip_array else None
  notes = list(driving.notes)
  if src_kind == "image":
    source_rgb = media.resize_to_limit(media.read_image(args.source), options.source_max_dim,
                                       options.source_division)
    source_face = faces.source_image(source_rgb, args.source, options.flag_do_crop)
    if source_face.lmk is None and faces.available:
      notes.append(f"{os.path.basename(args.source)}: no face found by the detector; source "
                   "ratios (retargeting, lip normalisation) are off")
  else:
    video = source_video.prepare(args.source, options, faces, max_frames=args.max_frames)
    notes += video.notes
  if not faces.available:
    notes.append(f"landmark features (paste-back, ratios, retargeting from frames) are off: "
                 f"{faces.missing}")
  pasteback = options.flag_pasteback and options.flag_do_crop and options.flag_stitching
  if options.flag_pasteback and not pasteback:
    notes.append("paste-back is off: it needs --flag_do_crop and --flag_stitching")

  enable_compilation_cache(args.compilation_cache)
  pipe = LivePortrait.from_pretrained(weights, batch_size=args.batch_size)
  pipe.lip_array = lip_array
  if pipe.synthetic:
    log(f"warning: {args.weights} holds synthetic, untrained weights: the output shows that "
        "the pipeline runs, not what LivePortrait looks like")
  job = Job(args, options, pipe, driving, notes, pasteback, log, start)
  if src_kind == "image":
    return job.image_source(source_rgb, source_face)
  return job.video_source(video)


@dataclasses.dataclass
class Job:
  """One animation run: writes the outputs and reports."""
  args: argparse.Namespace
  options: AnimationOptions
  pipe: LivePortrait
  driving: driving_input.DrivingInput
  notes: list
  pasteback: bool
  log: object
  start: float

  @property
  def name(self) -> str:
    return f"{stem(self.args.source)}--{stem(self.args.driving)}"

  @property
  def out_dir(self) -> str:
    return os.path.abspath(self.args.output_dir)

  def path(self, suffix: str) -> str:
    return os.path.join(self.out_dir, self.name + suffix)

  # -- image source ---------------------------------------------------------------------------

  def image_source(self, rgb: np.ndarray, face: SourceFace) -> int:
    pipe, driving = self.pipe, self.driving
    source = pipe.encode_source(rgb, face.crop256, face.ratios, face.m_c2o)
    mask = None
    if self.pasteback:
      mask = paste_back_lib.prepare_paste_back(CROP_MASK, face.m_c2o,
                                               (rgb.shape[1], rgb.shape[0]))
    finish = ((lambda f: paste_back_lib.paste_back(f, face.m_c2o, rgb, mask)) if mask is not None
              else (lambda f: f))
    chunks = driving.chunks(pipe.motion_of_frames, pipe.batch_size)
    if not driving.is_video:
      chunk = next(iter(chunks))
      (frames, _), = pipe.animate(source, iter([chunk]), self.options, driving_is_video=False,
                                  notes=self.notes)
      drv = None if chunk.crops256 is None else chunk.crops256[0]
      concat = concat_frame(drv, source.crop256, frames[0])
      written = [media.write_image(self.path(".jpg"), finish(frames[0])),
                 media.write_image(self.path("_concat.jpg"), concat)]
      written += self.save_template([chunk])
      self.report(written, 1, None)
      return 0
    frames_iter = ((finish(f), f, drv, source.crop256) for f, drv in
                   self.stream(pipe.animate(source, chunks, self.options, notes=self.notes)))
    return self.write_videos(frames_iter, self.driving.fps, driving.audio,
                             total=driving.template.n_frames if driving.kind == "template"
                             else None)

  def stream(self, animated):
    """(generated frame, driving crop or None) pairs; keeps the chunks for the template."""
    self.chunks_seen = []
    for frames, chunk in animated:
      if self.driving.kind == "video":
        self.chunks_seen.append(chunk)
      for i, frame in enumerate(frames):
        yield frame, None if chunk.crops256 is None else chunk.crops256[i]

  # -- source video ---------------------------------------------------------------------------

  def video_source(self, video: source_video.SourceVideo) -> int:
    pipe, driving, options = self.pipe, self.driving, self.options
    drv_chunks = []
    if driving.is_video:  # the whole driving motion: the sequences are smoothed over time
      drv_chunks = list(driving.chunks(pipe.motion_of_frames, pipe.batch_size))
      drv_motion = {k: np.concatenate([np.asarray(c.motion[k]) for c in drv_chunks])
                    for k in ("scale", "R", "exp", "t")}
      n_drv = drv_motion["exp"].shape[0]
    else:
      drv_chunks = list(driving.chunks(pipe.motion_of_frames, 1))
      drv_motion = {k: np.asarray(drv_chunks[0].motion[k]) for k in ("scale", "R", "exp", "t")}
      n_drv = None
    src_motion = video.encode_motion(pipe, limit=n_drv)
    n = src_motion["exp"].shape[0] if n_drv is None else min(n_drv, src_motion["exp"].shape[0])
    src = {k: src_motion[k][:n] for k in src_motion}
    src_ratios = video.ratios
    if src_ratios is not None:
      src_ratios = Ratios(src_ratios.eye[:n], src_ratios.lip[:n])
    drv_ratios = None
    if all(c.ratios is not None for c in drv_chunks) and drv_chunks:
      eye = np.concatenate([np.asarray(c.ratios.eye) for c in drv_chunks])
      lip = np.concatenate([np.asarray(c.ratios.lip) for c in drv_chunks])
      if not driving.is_video:
        eye, lip = np.repeat(eye[:1], n, 0), np.repeat(lip[:1], n, 0)
      drv_ratios = Ratios(eye[:n], lip[:n])
    x_d, kp_notes = video_source_keypoints(
        pipe.models, src, src["x_s"], drv_motion, options, driving_is_video=driving.is_video,
        lip_array=pipe.lip_array, source_ratios=src_ratios, driving_ratios=drv_ratios)
    self.notes += [m for m in kp_notes if m not in self.notes]
    x_d = np.asarray(x_d)
    self.chunks_seen = drv_chunks if driving.kind == "video" else []

    def driving_crops():
      if driving.kind == "template":
        while True:
          yield None
      if driving.kind == "image":
        while True:
          yield driving.image
      for crop, _ in driving.frames():
        yield crop

    def generate():
      batch = []
      drv_iter = driving_crops()

      def flush(start):
        crops = np.stack([f.crop256 for _, f in batch])
        frames = slice(start, start + len(batch))
        out = pipe.animate_source_video(pipe.source_features(crops), src["x_s"][frames],
                                        x_d[frames])
        for (rgb, face), frame in zip(batch, out):
          finished = frame
          if self.pasteback:
            # Per frame: each source frame has its own crop transform (official).
            mask = paste_back_lib.prepare_paste_back(CROP_MASK, face.m_c2o,
                                                     (rgb.shape[1], rgb.shape[0]))
            finished = paste_back_lib.paste_back(frame, face.m_c2o, rgb, mask)
          yield finished, frame, next(drv_iter), face.crop256

      done = 0
      for item in video.frames(limit=n):
        batch.append(item)
        if len(batch) == pipe.batch_size:
          yield from flush(done)
          done += len(batch)
          batch = []
      if batch:
        yield from flush(done)

    audio = media.choose_audio_source(driving.audio, self.args.source, options.audio_priority)
    return self.write_videos(generate(), video.info.fps_int, audio, total=n)

  # -- outputs --------------------------------------------------------------------------------

  def write_videos(self, frames_iter, fps: int, audio: str | None, total: int | None) -> int:
    """Streams (result, 512 crop, driving crop, source crop) tuples into the two videos."""
    progress = Progress(total, self.args.quiet)
    main = media.VideoWriter(self.path(".mp4"), fps, audio_from=audio)
    concat = media.VideoWriter(self.path("_concat.mp4"), fps, audio_from=audio)
    written = []
    try:
      for finished, generated, drv256, src256 in frames_iter:
        main.write(finished)
        concat.write(concat_frame(drv256, src256, generated))
        progress.update(1)
      progress.close()
      if progress.done == 0:
        raise media.MediaError(f"{self.args.driving}: no frames to animate")
      written = [main.close(), concat.close()]
      if self.args.gif:
        written.append(media.write_gif(written[0], self.path(".gif")))
      written += self.save_template(self.chunks_seen, fps)
    except BaseException:
      main.abort()
      concat.abort()
      for path in written:
        os.remove(path)
      raise
    self.report(written, progress.done, progress.first_frame_s)
    return 0

  def save_template(self, chunks, fps: int = 25) -> list[str]:
    """The driving motion template, next to the results (never beside the input)."""
    if self.args.save_template == "none" or self.driving.kind == "template" or not chunks:
      return []
    motion = {k: np.concatenate([np.asarray(c.motion[k]) for c in chunks])
              for k in chunks[0].motion}
    ratios = all(c.ratios is not None for c in chunks)
    tpl = templates.MotionTemplate(
        output_fps=int(fps), scale=motion["scale"], R=motion["R"], exp=motion["exp"],
        t=motion["t"], kp=motion.get("kp"), x_s=motion.get("x_s"),
        eye_ratios=np.concatenate([c.ratios.eye for c in chunks]) if ratios else None,
        lip_ratios=np.concatenate([c.ratios.lip for c in chunks]) if ratios else None)
    base = os.path.join(self.out_dir, f"{stem(self.args.driving)}_motion")
    if self.args.save_template == "pkl":
      return [templates.save_template_official_pkl(base + ".pkl", tpl)]
    return [templates.save_template(base + ".npz", tpl)]

  def report(self, written, frames, first_frame_s):
    for note in self.notes:
      self.log(f"note: {note}")
    for path in written:
      self.log(f"wrote {path}")
    self.log(json.dumps({"frames": frames,
                         "seconds": round(time.perf_counter() - self.start, 2),
                         "time_to_first_frame_s": None if first_frame_s is None
                         else round(first_frame_s, 2)}))

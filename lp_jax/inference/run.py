# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`infer.py`: animate a source image or video with a driving video, image or motion template.

Inputs are checked before the weights are loaded, every error is one line on stderr with exit
status 1, and outputs appear only when complete (temporary names, then renames); an interrupted
run (Ctrl-C, SIGTERM) removes what it had started writing.

`prepare(args)` checks the inputs and builds a `Job`; `Job.frames()` yields every animated frame
with what produced it (the same stream the writers consume, and what the end-to-end parity test
compares with the official pipeline); `Job.write()` writes the outputs.
"""

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
import warnings
from typing import Iterator

import numpy as np

from lp_jax import precision as precision_lib
from lp_jax.inference import assets
from lp_jax.inference import cli
from lp_jax.inference import driving_input
from lp_jax.inference import runtime
from lp_jax.inference import source_video
from lp_jax.inference.driving import Ratios, video_source_keypoints
from lp_jax.inference.faces import FaceStage, SourceFace
from lp_jax.inference.options import AnimationOptions
from lp_jax.inference.pipeline import LivePortrait, Progress, concat_frame
from lp_jax.io import gif, images, kinds, probe, video_writer
from lp_jax.io.errors import MediaError
from lp_jax.motion_template import lip_constant, npz, official_pkl
from lp_jax.motion_template.errors import TemplateError
from lp_jax.motion_template.template import MotionTemplate
from lp_jax.preprocess import paste_back as paste_back_lib

# The feathered 512x512 crop mask, generated once (only its warp depends on the frame).
CROP_MASK = paste_back_lib.make_crop_mask()
ERRORS = (MediaError, TemplateError, ValueError, FileNotFoundError)


class Terminated(BaseException):
  """SIGTERM, raised in the main thread so that every writer aborts and cleans up."""


@contextlib.contextmanager
def terminate_as_exception():
  def handler(signum, frame):
    raise Terminated()
  previous = signal.signal(signal.SIGTERM, handler)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


def run(argv=None) -> int:
  args = cli.build_parser(description=__doc__).parse_args(argv)
  # The audio mux runs ffmpeg in a subprocess; JAX warns about forking, but the child only
  # execs ffmpeg and never touches JAX.
  warnings.filterwarnings("ignore", message="os.fork", category=RuntimeWarning)
  try:
    with terminate_as_exception():
      return prepare(args).write()
  except ERRORS as e:
    print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print("\ninterrupted: partial outputs removed", file=sys.stderr)
    return 130
  except Terminated:
    print("\nterminated: partial outputs removed", file=sys.stderr)
    return 143


def animal_options(args, options: AnimationOptions, src_kind: str, drv_kind: str,
                   notes: list) -> AnimationOptions:
  """The official animals pipeline's inputs: a source image and a driving video or template;
  no source crop (its X-Pose detector is a PyTorch model with custom CUDA ops, not included)."""
  if src_kind != "image":
    raise MediaError(f"{args.source}: the animals pipeline animates a source image")
  if drv_kind == "image":
    raise MediaError(f"{args.driving}: the animals pipeline takes a driving video or "
                           "motion template")
  if options.flag_do_crop:
    notes.append("--animal: the source is not cropped (the official animal face detector, "
                 "X-Pose, is not included): give a pre-cropped animal face")
  return dataclasses.replace(options, flag_do_crop=False)


def stem(path: str) -> str:
  return os.path.splitext(os.path.basename(path.rstrip("/")))[0]


def prepare(args: argparse.Namespace, *, source_frames: int | None = None,
            driving_frames: int | None = None) -> "Job":
  """Checks every input and builds the job (weights loaded last).

  `source_frames` / `driving_frames` limit each side separately (default `--max_frames`).
  """
  options, crop = cli.options_from_args(args)
  source_frames = source_frames or args.max_frames
  driving_frames = driving_frames or args.max_frames
  src_kind, drv_kind = kinds.classify(args.source), kinds.classify(args.driving)
  if src_kind not in ("image", "video"):
    raise MediaError(f"{args.source}: the source must be an image or a video")
  notes = []
  if args.animal:
    options = animal_options(args, options, src_kind, drv_kind, notes)
  devices = runtime.select_devices(args)
  log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
  start = time.perf_counter()
  weights, face_root = assets.resolve(args.weights, animal=args.animal)
  faces = FaceStage.from_weights(args.face_models or face_root, crop)
  source = video = None
  if src_kind == "image":
    rgb = images.resize_to_limit(images.read_image(args.source), options.source_max_dim,
                                options.source_division)
    source = (rgb, faces.source_image(rgb, args.source, options.flag_do_crop))
    if source[1].lmk is None and faces.available:
      notes.append(f"{os.path.basename(args.source)}: no face found by the detector; source "
                   "ratios (retargeting, lip normalisation) are off")
  else:
    video = source_video.prepare(args.source, options, faces, max_frames=source_frames)
    notes += video.notes
    if drv_kind == "video" and video.info.n_frames:
      # Official: a driving video is cut to the source's length before it is cropped, so the
      # driving crop box averages only the frames that are animated.
      driving_frames = min(driving_frames or video.info.n_frames, video.info.n_frames)
  driving = driving_input.prepare(args.driving, drv_kind, options, faces,
                                  max_frames=driving_frames, auto_crop=not args.animal)
  notes += driving.notes
  if not faces.available:
    notes.append(f"landmark features (paste-back, ratios, retargeting from frames) are off: "
                 f"{faces.missing}")
  lip_array = lip_constant.load_lip_array(args.lip_array) if args.lip_array else (
      lip_constant.bundled_lip_array())
  pasteback = options.flag_pasteback and options.flag_do_crop and options.flag_stitching
  if options.flag_pasteback and not pasteback:
    notes.append("paste-back is off: it needs --flag_do_crop and --flag_stitching")

  runtime.enable_compilation_cache(assets.compilation_cache(args.compilation_cache))
  compute = precision_lib.resolve(args.precision, args.flag_use_half_precision,
                                  devices[0].platform)
  pipe = LivePortrait.from_pretrained(weights, batch_size=args.batch_size, lip_array=lip_array,
                                      devices=devices, dtype=precision_lib.dtype(compute))
  if pipe.synthetic:
    log(f"warning: {args.weights} holds synthetic, untrained weights: the output shows that "
        "the pipeline runs, not what LivePortrait looks like")
  return Job(args, options, pipe, faces, driving, notes, pasteback, log, start, source=source,
             video=video)


@dataclasses.dataclass
class Frame:
  """One animated frame and what produced it."""
  result: np.ndarray  # uint8: pasted back into the source frame, or the 512 crop
  crop: np.ndarray  # uint8 [512, 512, 3], the generated crop
  driving256: np.ndarray | None  # the driving network input (None for a template)
  source256: np.ndarray  # the source network input
  x_s: np.ndarray  # [K, 3] source keypoints
  x_d: np.ndarray  # [K, 3] driving keypoints passed to W


@dataclasses.dataclass
class Job:
  """One animation run: the animated frames, then the files."""
  args: argparse.Namespace
  options: AnimationOptions
  pipe: LivePortrait
  faces: FaceStage
  driving: driving_input.DrivingInput
  notes: list
  pasteback: bool
  log: object
  start: float
  source: tuple[np.ndarray, SourceFace] | None = None  # image source: (frame, face)
  video: source_video.SourceVideo | None = None  # video source
  # The driving chunks of the animated frames (the motion template), filled by frames().
  driving_chunks: list = dataclasses.field(default_factory=list)

  @property
  def name(self) -> str:
    return f"{stem(self.args.source)}--{stem(self.args.driving)}"

  @property
  def out_dir(self) -> str:
    return os.path.abspath(self.args.output_dir)

  def path(self, suffix: str) -> str:
    return os.path.join(self.out_dir, self.name + suffix)

  def frames(self) -> Iterator[Frame]:
    """Every animated frame, streamed (the driving motion is kept for the template)."""
    if self.video is not None:
      return self._video_source_frames()
    return self._image_source_frames()

  # -- image source ---------------------------------------------------------------------------

  def _image_source_frames(self) -> Iterator[Frame]:
    pipe, driving = self.pipe, self.driving
    rgb, face = self.source
    source = pipe.encode_source(rgb, face.crop256, face.ratios, face.m_c2o)
    finish = self._finisher(rgb, face.m_c2o)
    x_s = np.asarray(source.x_s)[0]
    chunks = driving.chunks(pipe.motion_of_frames, pipe.batch_size)
    animate = pipe.animate(source, chunks, self.options, driving_is_video=driving.is_video,
                           notes=self.notes, animal=self.args.animal)
    self.driving_chunks = []
    for frames, chunk, x_d in animate:
      if driving.kind != "template":  # motion only: memory stays flat over a long video
        self.driving_chunks.append(dataclasses.replace(chunk, crops256=None))
      for i, frame in enumerate(frames):
        drv = None if chunk.crops256 is None else chunk.crops256[i]
        yield Frame(finish(frame), frame, drv, source.crop256, x_s, np.asarray(x_d[i]))

  def _finisher(self, rgb: np.ndarray, m_c2o):
    """Paste-back into `rgb` when on (the mask's warp is per source frame, as upstream)."""
    if not self.pasteback:
      return lambda frame: frame
    mask = paste_back_lib.prepare_paste_back(CROP_MASK, m_c2o, (rgb.shape[1], rgb.shape[0]))
    return lambda frame: paste_back_lib.paste_back(frame, m_c2o, rgb, mask)

  # -- source video ---------------------------------------------------------------------------

  def _video_source_frames(self) -> Iterator[Frame]:
    pipe, driving, options, video = self.pipe, self.driving, self.options, self.video
    # The whole driving motion (it is smoothed over time); crops are re-read for the concat.
    drv_chunks = [dataclasses.replace(c, crops256=None) for c in driving.chunks(
        pipe.motion_of_frames, pipe.batch_size if driving.is_video else 1)]
    drv_motion, drv_all_ratios = _merge(drv_chunks)
    n_drv = drv_motion["exp"].shape[0] if driving.is_video else None
    src_motion = video.encode_motion(pipe, limit=n_drv)
    n = src_motion["exp"].shape[0] if n_drv is None else min(n_drv, src_motion["exp"].shape[0])
    src = {k: src_motion[k][:n] for k in src_motion}
    src_ratios = video.ratios
    if src_ratios is not None:
      src_ratios = Ratios(src_ratios.eye[:n], src_ratios.lip[:n])
    drv_ratios = None
    if drv_all_ratios is not None:
      eye, lip = drv_all_ratios.eye, drv_all_ratios.lip
      if not driving.is_video:
        eye, lip = np.repeat(eye[:1], n, 0), np.repeat(lip[:1], n, 0)
      drv_ratios = Ratios(eye[:n], lip[:n])
    x_d, kp_notes = video_source_keypoints(
        pipe.models, src, src["x_s"], drv_motion, options, driving_is_video=driving.is_video,
        lip_array=pipe.lip_array, source_ratios=src_ratios, driving_ratios=drv_ratios)
    self.notes += [m for m in kp_notes if m not in self.notes]
    x_d, x_s = np.asarray(x_d), np.asarray(src["x_s"])
    # The template holds the animated driving frames (min(source, driving) for a video).
    keep = n if driving.is_video else 1
    self.driving_chunks = [] if driving.kind == "template" else [driving_input.DrivingChunk(
        {k: v[:keep] for k, v in drv_motion.items()}, None,
        None if drv_all_ratios is None else Ratios(drv_all_ratios.eye[:keep],
                                                   drv_all_ratios.lip[:keep]))]
    drv_crops = _driving_crops(driving)
    batch = []

    def flush(start):
      crops = np.stack([f.crop256 for _, f in batch])
      frames = slice(start, start + len(batch))
      out = pipe.animate_source_video(pipe.source_features(crops), x_s[frames], x_d[frames])
      for i, ((rgb, face), frame) in enumerate(zip(batch, out)):
        yield Frame(self._finisher(rgb, face.m_c2o)(frame), frame, next(drv_crops), face.crop256,
                    x_s[start + i], x_d[start + i])

    done = 0
    for item in video.frames(limit=n):
      batch.append(item)
      if len(batch) == pipe.batch_size:
        yield from flush(done)
        done += len(batch)
        batch = []
    if batch:
      yield from flush(done)

  # -- outputs --------------------------------------------------------------------------------

  def write(self) -> int:
    """Writes the results; an image driving an image gives images, anything else videos."""
    if self.video is None and not self.driving.is_video and self.driving.kind != "template":
      return self._write_images()
    if self.video is not None:
      fps = self.video.info.fps_int
      audio = probe.choose_audio_source(self.driving.audio, self.args.source,
                                        self.options.audio_priority)
      total = None
    else:
      fps, audio = self.driving.fps, self.driving.audio
      total = self.driving.template.n_frames if self.driving.kind == "template" else None
    return self._write_videos(fps, audio, total)

  def _write_images(self) -> int:
    frame = next(iter(self.frames()))
    concat = concat_frame(frame.driving256, frame.source256, frame.crop)
    # Official: without paste-back the main image is the concatenation too.
    written = [images.write_image(self.path(".jpg"), frame.result if self.pasteback else concat),
               images.write_image(self.path("_concat.jpg"), concat)]
    try:
      written += self.save_template()
    except BaseException:
      for path in written:
        os.remove(path)
      raise
    self.report(written, 1, None)
    return 0

  def _write_videos(self, fps: int, audio: str | None, total: int | None) -> int:
    progress = Progress(total, self.args.quiet)
    main = video_writer.VideoWriter(self.path(".mp4"), fps, audio_from=audio)
    concat = video_writer.VideoWriter(self.path("_concat.mp4"), fps, audio_from=audio)
    written = []
    try:
      for frame in self.frames():
        main.write(frame.result)
        concat.write(concat_frame(frame.driving256, frame.source256, frame.crop))
        progress.update(1)
      progress.close()
      if progress.done == 0:
        raise MediaError(f"{self.args.driving}: no frames to animate")
      written = [main.close(), concat.close()]
      if self.args.gif:
        written.append(gif.write_gif(written[0], self.path(".gif")))
      written += self.save_template()
    except BaseException:
      main.abort()
      concat.abort()
      for path in written:
        os.remove(path)
      raise
    self.report(written, progress.done, progress.first_frame_s)
    return 0

  def template(self) -> MotionTemplate | None:
    """The driving motion template of what was animated (None for a template driver)."""
    if not self.driving_chunks:
      return None
    motion, ratios = _merge(self.driving_chunks)
    return MotionTemplate(
        output_fps=int(self.driving.fps), scale=motion["scale"], R=motion["R"],
        exp=motion["exp"], t=motion["t"], kp=motion.get("kp"), x_s=motion.get("x_s"),
        eye_ratios=None if ratios is None else ratios.eye,
        lip_ratios=None if ratios is None else ratios.lip)

  def save_template(self) -> list[str]:
    """`<driving>.pkl` (official) or `.npz` in the output folder, never beside the input."""
    tpl = self.template()
    if self.args.save_template == "none" or tpl is None:
      return []
    base = os.path.join(self.out_dir, stem(self.args.driving))
    if self.args.save_template == "npz":
      return [npz.save_template(base + ".npz", tpl)]
    if tpl.eye_ratios is None and not self.args.animal:  # animal templates carry no ratios
      self.notes.append("no official .pkl template: the official human pipeline needs the eye "
                        "and lip ratios, which need the face models; wrote the .npz instead")
      return [npz.save_template(base + ".npz", tpl)]
    return [official_pkl.save_template_official_pkl(base + ".pkl", tpl)]

  def report(self, written, frames, first_frame_s):
    for note in self.notes:
      self.log(f"note: {note}")
    for path in written:
      self.log(f"wrote {path}")
    self.log(json.dumps({"frames": frames,
                         "seconds": round(time.perf_counter() - self.start, 2),
                         "time_to_first_frame_s": None if first_frame_s is None
                         else round(first_frame_s, 2)}))


def _merge(chunks) -> tuple[dict, Ratios | None]:
  """The motion and ratios of consecutive chunks as one [T] sequence."""
  motion = {k: np.concatenate([np.asarray(c.motion[k]) for c in chunks]) for k in chunks[0].motion}
  if any(c.ratios is None for c in chunks):
    return motion, None
  return motion, Ratios(np.concatenate([np.asarray(c.ratios.eye) for c in chunks]),
                        np.concatenate([np.asarray(c.ratios.lip) for c in chunks]))


def _driving_crops(driving: driving_input.DrivingInput):
  """The driving network input shown in the concat video, per animated frame."""
  if driving.kind == "template":
    while True:
      yield None
  if driving.kind == "image":
    while True:
      yield driving.image
  for crop, _ in driving.frames():
    yield crop

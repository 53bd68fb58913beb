# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`infer.py`: animate a source image or video with a driving video, image or motion template.

Inputs are checked before the weights are loaded, every input error (lp_jax.errors.UserError) is
one line on stderr with exit status 1 (anything else is a bug and keeps its traceback), and
outputs appear only when complete (temporary names, then renames); an interrupted run (Ctrl-C,
SIGTERM) removes what it had started writing.

`prepare(args)` checks the inputs and builds a `Job`; `Job.frames()` yields every animated frame
with what produced it (the same stream the writers consume, and what the end-to-end parity test
compares with the official pipeline); `Job.write()` writes the outputs.
"""

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import warnings
from typing import Iterator

from lp_jax import errors
from lp_jax import precision as precision_lib
from lp_jax.inference import assets
from lp_jax.inference import cli
from lp_jax.inference import driving_stream
from lp_jax.inference import runtime
from lp_jax.inference import source_video
from lp_jax.inference.faces import FaceStage
from lp_jax.inference.frames import Frame, SourceImage
from lp_jax.inference.options import AnimationOptions
from lp_jax.inference.pipeline import Animation, LivePortrait
from lp_jax.inference.progress import Progress, StartupClock
from lp_jax.io import gif, images, kinds, probe, video_writer
from lp_jax.io.errors import MediaError
from lp_jax.motion_template import lip_constant, npz, official_pkl
from lp_jax.motion_template.template import MotionTemplate

logger = logging.getLogger(__name__)


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


def log_to_stderr(quiet: bool) -> None:
  """Notes and warnings of lp_jax as plain lines on stderr; --quiet silences all but errors."""
  handler = logging.StreamHandler(sys.stderr)
  handler.setFormatter(logging.Formatter("%(message)s"))
  root = logging.getLogger("lp_jax")
  root.handlers[:] = [handler]
  root.setLevel(logging.ERROR if quiet else logging.INFO)
  root.propagate = False


def run(argv=None) -> int:
  clock = StartupClock.for_process()  # the command's wait includes the imports before this
  args = cli.build_parser(description=__doc__).parse_args(argv)
  log_to_stderr(args.quiet)
  # The audio mux runs ffmpeg in a subprocess; JAX warns about forking, but the child only
  # execs ffmpeg and never touches JAX.
  warnings.filterwarnings("ignore", message="os.fork", category=RuntimeWarning)
  try:
    with terminate_as_exception():
      return prepare(args, clock=clock).write()
  except errors.UserError as e:
    return errors.report(e)
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
            driving_frames: int | None = None, source_start: int = 0,
            driving_start: int = 0, clock: StartupClock | None = None) -> "Job":
  """Checks every input and builds the job (weights loaded last).

  `source_frames` / `driving_frames` limit each side separately (default `--max_frames`);
  `source_start` / `driving_start` skip a video's first frames (a template's first entries), so
  a run sees the clip as if it were cut there. `clock` times the run (default: from this call).
  """
  clock = clock or StartupClock()
  # First, so that every program compiled from here on (the face models' too) is cached.
  runtime.enable_compilation_cache(assets.compilation_cache(args.compilation_cache))
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
  weights, face_root = assets.resolve(args.weights, animal=args.animal)
  faces = FaceStage.from_weights(args.face_models or face_root, crop, device=devices[0])
  if src_kind == "image":
    rgb = images.resize_to_limit(images.read_image(args.source), options.source_max_dim,
                                options.source_division)
    source = SourceImage(rgb, faces.source_image(rgb, args.source, options.flag_do_crop))
    if source.face.lmk is None and faces.available:
      notes.append(f"{os.path.basename(args.source)}: no face found by the detector; source "
                   "ratios (retargeting, lip normalisation) are off")
  else:
    source = source_video.prepare(args.source, options, faces, max_frames=source_frames,
                                  start=source_start)
    notes += source.notes
    n_source = source.info.n_frames - source_start
    if drv_kind == "video" and n_source > 0:
      # Official: a driving video is cut to the source's length before it is cropped, so the
      # driving crop box averages only the frames that are animated.
      driving_frames = min(driving_frames or n_source, n_source)
  driving = driving_stream.prepare(args.driving, drv_kind, options, faces,
                                   max_frames=driving_frames, auto_crop=not args.animal,
                                   start=driving_start)
  notes += driving.notes
  if not faces.available:
    notes.append(f"landmark features (paste-back, ratios, retargeting from frames) are off: "
                 f"{faces.missing}")
  lip_array = lip_constant.load_lip_array(args.lip_array) if args.lip_array else (
      lip_constant.bundled_lip_array())
  paste_back = options.flag_pasteback and options.flag_do_crop and options.flag_stitching
  if options.flag_pasteback and not paste_back:
    notes.append("paste-back is off: it needs --flag_do_crop and --flag_stitching")

  compute = precision_lib.resolve(args.precision, args.flag_use_half_precision,
                                  devices[0].platform)
  clock.mark("weights_start")
  pipe = LivePortrait.from_pretrained(weights, batch_size=args.batch_size, lip_array=lip_array,
                                      devices=devices, dtype=precision_lib.dtype(compute),
                                      frame_ops=args.frame_ops)
  clock.mark("weights")
  if pipe.synthetic:
    logger.warning("warning: %s holds synthetic, untrained weights: the output shows that the "
                   "pipeline runs, not what LivePortrait looks like", args.weights)
  return Job(args, options, pipe, faces, source, driving, notes, paste_back, clock)


@dataclasses.dataclass
class Job:
  """One infer.py run: the pipeline call its arguments make, then the files."""
  args: argparse.Namespace
  options: AnimationOptions
  pipe: LivePortrait
  faces: FaceStage  # the face models the inputs were prepared with
  source: SourceImage | source_video.SourceVideo
  driving: driving_stream.DrivingInput
  notes: list  # from preparing the inputs; the animation adds its own
  paste_back: bool
  clock: StartupClock  # from the process's start (a command-line run) or prepare's
  animation: Animation | None = None  # the latest frames() call's

  @property
  def name(self) -> str:
    return f"{stem(self.args.source)}--{stem(self.args.driving)}"

  @property
  def out_dir(self) -> str:
    return os.path.abspath(self.args.output_dir)

  def path(self, suffix: str) -> str:
    return os.path.join(self.out_dir, self.name + suffix)

  def frames(self) -> Iterator[Frame]:
    """Every animated frame, streamed (the driving motion is recorded for the template)."""
    self.animation = self.pipe.animate(self.source, self.driving, self.options,
                                       paste_back=self.paste_back, animal=self.args.animal)
    self.animation.notes[:0] = self.notes
    return iter(self.animation)

  def template(self) -> MotionTemplate | None:
    """The driving motion template of what frames() animated (None for a template driver)."""
    return None if self.animation is None else self.animation.template()

  # -- outputs --------------------------------------------------------------------------------

  def write(self) -> int:
    """Writes the results; an image driving an image gives images, anything else videos."""
    video_source = isinstance(self.source, source_video.SourceVideo)
    if not video_source and not self.driving.is_video and self.driving.kind != "template":
      return self._write_images()
    if video_source:
      fps = self.source.info.fps_int
      audio = probe.choose_audio_source(self.driving.audio, self.args.source,
                                        self.options.audio_priority)
      total = None
    else:
      fps, audio = self.driving.fps, self.driving.audio
      total = self.driving.template.n_frames if self.driving.kind == "template" else None
    return self._write_videos(fps, audio, total)

  def _write_images(self) -> int:
    frame = next(self.frames())
    self.clock.mark("first_frame")
    concat = frame.concat
    # Official: without paste-back the main image is the concatenation too.
    written = [images.write_image(self.path(".jpg"), frame.result if self.paste_back else concat),
               images.write_image(self.path("_concat.jpg"), concat)]
    try:
      written += self.save_template()
    except BaseException:
      for path in written:
        os.remove(path)
      raise
    self.report(written, 1, self.clock.since_origin("first_frame"))
    return 0

  def _write_videos(self, fps: int, audio: str | None, total: int | None) -> int:
    progress = Progress(total, self.args.quiet, clock=self.clock)
    main = video_writer.VideoWriter(self.path(".mp4"), fps, audio_from=audio)
    concat = video_writer.VideoWriter(self.path("_concat.mp4"), fps, audio_from=audio)
    written = []
    try:
      for frame in self.frames():
        # Both are new arrays per frame, handed over without a copy.
        main.write(frame.result, copy=False)
        concat.write(frame.concat, copy=False)
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

  def save_template(self) -> list[str]:
    """`<driving>.pkl` (official) or `.npz` in the output folder, never beside the input."""
    tpl = self.template()
    if self.args.save_template == "none" or tpl is None:
      return []
    base = os.path.join(self.out_dir, stem(self.args.driving))
    if self.args.save_template == "npz":
      return [npz.save_template(base + ".npz", tpl)]
    if tpl.eye_ratios is None and not self.args.animal:  # animal templates carry no ratios
      self.animation.notes.append(
          "no official .pkl template: the official human pipeline needs the eye and lip ratios, "
          "which need the face models; wrote the .npz instead")
      return [npz.save_template(base + ".npz", tpl)]
    return [official_pkl.save_template_official_pkl(base + ".pkl", tpl)]

  def report(self, written, frames, first_frame_s):
    """Notes through logging; the final summary on stderr: files, frames, then the seconds
    to the end and to the first frame, counted from the start of the process for a
    command-line run ('timed_from'), with where the time to the first frame went."""
    for note in self.animation.notes:
      logger.info("note: %s", note)
    if self.args.quiet:
      return
    for path in written:
      print(f"wrote {path}", file=sys.stderr)
    summary = {"frames": frames, "seconds": round(self.clock.since_origin(), 2),
               "time_to_first_frame_s": None if first_frame_s is None
               else round(first_frame_s, 2),
               "timed_from": "process start" if self.clock.from_process_start else "run start"}
    breakdown = self.clock.breakdown()
    if breakdown:
      summary["first_frame_breakdown_s"] = breakdown
    print(json.dumps(summary), file=sys.stderr)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The app's actions, as plain functions of the page's values (and of the API's inputs).

Every failure a user can cause (lp_jax.errors.UserError: not an image, an empty or corrupt video,
no face, a corrupt or malicious template, a bad setting) becomes one `gr.Error` line; anything
else is a bug, logged with its traceback and reported as "<action> failed: ..." so the server
keeps running. Each job writes into its own folder under the app's work directory; only the
newest few are kept (Gradio copies outputs into its own cache, which `delete_cache` cleans), and
the work directory goes at exit.
"""

import logging
import os
import re
import shutil
import tempfile
import threading
import time
import traceback

import gradio as gr

from lp_jax.app import animate as animate_lib
from lp_jax.app import editing
from lp_jax.app import video_edit
from lp_jax.app import webcam
from lp_jax.app.sources import SourceCache
from lp_jax.errors import UserError, first_line
from lp_jax.io import kinds, probe
from lp_jax.io.errors import MediaError

KEEP_JOBS = 4  # job folders kept on disk (outputs still being served)


_ABS_PATH = re.compile(r"(?:/[^/\s:'\"]+)+/([^/\s:'\"]+)")


def _one_line(e: BaseException) -> str:
  """The first line of an error, with server paths shortened to file names."""
  return _ABS_PATH.sub(r"\1", first_line(e))


def _name(path: str | None) -> str:
  return os.path.basename(path) if path else ""


class Actions:
  """Binds the engine, the source cache and the work directory to the page's events."""

  def __init__(self, engine, work_dir: str | None = None, max_frames: int | None = None):
    self.engine = engine
    self.sources = SourceCache(engine.pipe, engine.faces)
    self.renderer = editing.EditRenderer(engine.pipe.models)
    self.webcam = webcam.Webcam(engine)  # the live tab's per-frame action
    self.work_dir = work_dir or tempfile.mkdtemp(prefix="lp_jax_app_")
    self.max_frames = max_frames
    self._jobs = []
    self._lock = threading.Lock()
    self.timings = []  # (action, seconds) of the latest calls, for the latency report

  # -- plumbing -------------------------------------------------------------------------------

  def _job_dir(self) -> str:
    with self._lock:
      path = tempfile.mkdtemp(prefix="job_", dir=self.work_dir)
      self._jobs.append(path)
      while len(self._jobs) > KEEP_JOBS:
        shutil.rmtree(self._jobs.pop(0), ignore_errors=True)
    return path

  def cleanup(self) -> None:
    shutil.rmtree(self.work_dir, ignore_errors=True)

  def _guard(self, what: str, fn, *args, **kwargs):
    start = time.perf_counter()
    try:
      return fn(*args, **kwargs)
    except gr.Error:
      raise
    except UserError as e:
      raise gr.Error(_one_line(e), duration=None, print_exception=False) from None
    except Exception as e:  # pylint: disable=broad-except
      logging.error("%s failed:\n%s", what, traceback.format_exc())
      raise gr.Error(f"{what} failed: {_one_line(e)}", duration=None,
                     print_exception=False) from None
    finally:
      self.timings = (self.timings + [(what, time.perf_counter() - start)])[-50:]

  # -- animation ------------------------------------------------------------------------------

  def animate(self, source_image=None, source_video=None, driving_video=None,
              driving_image=None, driving_template=None, flag_normalize_lip=False,
              flag_relative_motion=True, flag_do_crop=True, flag_pasteback=True,
              flag_stitching=True, animation_region="all", driving_option="expression-friendly",
              driving_multiplier=1.0, flag_crop_driving_video=False, scale=2.3, vx_ratio=0.0,
              vy_ratio=-0.125, scale_crop_driving_video=2.2, vx_ratio_crop_driving_video=0.0,
              vy_ratio_crop_driving_video=-0.1, driving_smooth_observation_variance=3e-7,
              source_tab="Image", driving_tab="Video", progress=gr.Progress()):
    """(video, concat video, image, concat image); the unused pair is None.

    The parameter names (infer.py's flags) and defaults (the page's) are the API's: a client
    passes one source, one driver and the settings it changes.
    """
    controls = dict(locals())
    sources = {"Image": source_image, "Video": source_video}
    drivers = {"Video": driving_video, "Image": driving_image, "Template": driving_template}
    source = _pick(sources, source_tab)
    driving = _pick(drivers, driving_tab)
    if not source or not driving:
      raise gr.Error("Please upload a source portrait (image or video) and a driving video, "
                     "image or motion template.", duration=None, print_exception=False)

    def job():
      out_dir = self._job_dir()
      argv = animate_lib.command_line(
          source, driving, out_dir, controls, weights=self.engine.weights,
          face_root=self.engine.face_root, lip_array=self.engine.lip_array_path,
          max_frames=self.max_frames, batch_size=self.engine.pipe.batch_size)

      expected = _expected_frames(driving, self.max_frames)

      def report(done, total, fps):
        progress((done, total or expected), desc=f"animating: {fps:.2f} fps", unit="frames")

      progress(0, desc="preparing")
      out = animate_lib.run(argv, out_dir, report)
      return out.video, out.video_concat, out.image, out.image_concat

    return self._guard("animate", job)

  # -- image retargeting and editing ----------------------------------------------------------

  def source_ratios(self, image=None, scale=2.5, do_crop=True):
    """The eye / lip ratio sliders of a newly uploaded image (its own ratios)."""
    if not image:
      return 0.0, 0.0

    def job():
      src = self.sources.get(image, bool(do_crop), float(scale))
      return src.slider_ratios or (0.0, 0.0)

    return self._guard("encoding the source", job)

  def retarget_image(self, eye_ratio=None, lip_ratio=None, head_pitch=0.0, head_yaw=0.0,
                     head_roll=0.0, mov_x=0.0, mov_y=0.0, mov_z=1.0, lip_variation_zero=0.0,
                     lip_variation_one=0.0, lip_variation_two=0.0, lip_variation_three=0.0,
                     smile=0.0, wink=0.0, eyebrow=0.0, eyeball_direction_x=0.0,
                     eyeball_direction_y=0.0, image=None, scale=2.5, stitching=True,
                     do_crop=True):
    """(512x512 result, result pasted back into the source image).

    The arguments are the sliders of editing.CONTROLS in the official order, then the image,
    crop scale and toggles; the defaults are the page's. `eye_ratio` / `lip_ratio` None are the
    image's own ratios (what the page's sliders show after an upload), which leave the eyes and
    lips to the other sliders.
    """
    if not image:
      raise gr.Error("Please upload a source portrait as the retargeting input.",
                     duration=None, print_exception=False)
    args = locals()
    values = [args[n] for n in editing.CONTROL_NAMES]
    if any(v is None for v in values[2:]):
      raise gr.Error("Invalid slider input.", duration=None, print_exception=False)

    def job():
      src = self.sources.get(image, bool(do_crop), float(scale))
      own = src.slider_ratios or (0.0, 0.0)
      given = [own[i] if v is None else v for i, v in enumerate(values[:2])] + values[2:]
      frame, _ = self.renderer(src, editing.Edit.from_args(given, stitching))
      return frame, src.paste_back(frame) if do_crop else frame

    return self._guard("retargeting", job)

  def reset(self, image=None, scale=2.5, do_crop=True):
    """Slider defaults (eye / lip: the image's own ratios), crop scale 2.5, stitching, crop."""
    eye, lip = 0.0, 0.0
    if image:
      try:
        eye, lip = self.source_ratios(image, scale, do_crop)
      except gr.Error:
        pass
    values = dict(editing.DEFAULTS, eye_ratio=eye, lip_ratio=lip)
    return tuple(values[n] for n in editing.CONTROL_NAMES) + (2.5, True, True)

  # -- video retargeting ----------------------------------------------------------------------

  def retarget_video(self, lip_ratio=0.0, video=None, scale=2.3,
                     driving_smooth_observation_variance=3e-6, keep_lip_silent=False,
                     do_crop=True, progress=gr.Progress()):
    """(concat video: source crop | result, result video pasted back), with the source audio.

    The defaults are the page's; a client passes the video and what it changes.
    """
    if not video:
      raise gr.Error("Please upload a source video as the retargeting input.", duration=None,
                     print_exception=False)

    def job():
      out_dir = self._job_dir()
      progress(0, desc="tracking the face")
      return video_edit.retarget_video(
          self.engine.pipe, self.engine.faces, video, out_dir, lip_ratio=float(lip_ratio),
          scale=float(scale), smooth_variance=float(driving_smooth_observation_variance),
          silent=bool(keep_lip_silent), do_crop=bool(do_crop),
          neutral_lip=self.engine.neutral_lip, max_frames=self.max_frames,
          progress=lambda done, total, what: progress((done, total), desc=what, unit="frames"))

    return self._guard("video retargeting", job)


def _expected_frames(driving: str, max_frames: int | None) -> int | None:
  """Frames a driving video will give (for the progress bar; None when unknown)."""
  try:
    if kinds.classify(driving) != "video":
      return None
    n = probe.probe_video(driving).n_frames
  except (MediaError, OSError):
    return None
  return min(n, max_frames) if max_frames and n else (n or None)


def _pick(options: dict, tab: str | None):
  """The input of the selected tab, or the only one given (API callers may skip the tab)."""
  if options.get(tab):
    return options[tab]
  given = [v for v in options.values() if v]
  return given[0] if len(given) == 1 else None

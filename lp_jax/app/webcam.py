# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The live webcam tab: the browser's camera drives the page's source portrait, frame by frame.

Gradio's streaming webcam input sends a frame every `STREAM_EVERY` seconds while the stream
runs; the server animates the newest one when the previous is done (Gradio keeps only the
latest frame of a busy stream), so the page follows the camera at whatever rate the networks
allow. Each frame goes through `lp_jax.inference.stream.Animator`, the state of one stream: the
source encoded once, the first frame's motion (drv0: motion is relative to it, as for a driving
video) and the driving crop box. It lives in the session's `gr.State`, so two browser sessions
never share a reference frame or a source. The page shows the frame rate and the server's
latency per frame (from receiving the frame to returning the image).

API (`gradio_client`): `/webcam` is the stream event itself, driven by the browser's streaming
protocol (gradio_client 2.x cannot read its `process_streaming` messages); `/webcam_frame` runs
the same function on one frame per call, in the caller's session, for clients and tests.
"""

import collections
import dataclasses
import os
import statistics
import time

import gradio as gr

from lp_jax.app.components import ImageInput
from lp_jax.errors import UserError
from lp_jax.inference import stream as stream_lib
from lp_jax.inference.faces import FaceStage
from lp_jax.inference.frames import SourceImage
from lp_jax.inference.options import AnimationOptions, CropOptions
from lp_jax.io import images
from lp_jax.weights import manifest  # one file hash for the whole library

STREAM_EVERY = 0.1  # seconds between the browser's frames; a busy server animates the newest
TIME_LIMIT = 600  # seconds a stream may run (it holds a worker), then the user restarts it
RESTART_GAP_S = 10.0  # a frame this long after the previous one starts a new reference (drv0)
WINDOW = 30  # frames the reported rate and latency are measured over
CONCURRENCY_ID = "webcam"  # live streams queue among themselves, not behind animation jobs


@dataclasses.dataclass
class Session:
  """One browser session's stream: what it was built from, its animator and its timing."""
  key: tuple  # the source's hash and the settings the animator was built with
  animator: stream_lib.Animator
  note: str = ""  # what the settings could not do here (shown with the timing)
  frames: int = 0
  done: collections.deque = dataclasses.field(
      default_factory=lambda: collections.deque(maxlen=WINDOW))  # perf_counter() per result
  latency: collections.deque = dataclasses.field(
      default_factory=lambda: collections.deque(maxlen=WINDOW))  # seconds per frame

  def stats(self) -> str:
    """'x.x fps | latency y ms | frame n' over the last WINDOW frames."""
    fps = 0.0
    if len(self.done) > 1 and self.done[-1] > self.done[0]:
      fps = (len(self.done) - 1) / (self.done[-1] - self.done[0])
    ms = 1000 * statistics.median(self.latency) if self.latency else 0.0
    line = f"{fps:.1f} fps | latency {ms:.0f} ms | frame {self.frames}"
    return f"{line} | {self.note}" if self.note else line


class Webcam:
  """The tab's actions over the app's engine (its pipeline and face models)."""

  def __init__(self, engine):
    self.engine = engine

  def _session(self, key: tuple, source_image: str, settings: dict) -> Session:
    faces = self.engine.faces
    do_crop = bool(settings["flag_do_crop"]) and faces.available
    note = "" if do_crop or not settings["flag_do_crop"] else (
        "source not cropped: no face models")
    options = AnimationOptions(
        flag_relative_motion=bool(settings["flag_relative_motion"]),
        flag_stitching=bool(settings["flag_stitching"]),
        animation_region=settings["animation_region"],
        driving_option=settings["driving_option"],
        driving_multiplier=float(settings["driving_multiplier"]),
        flag_crop_driving_video=bool(settings["flag_crop_driving_video"]), flag_do_crop=do_crop)
    crop = CropOptions(scale=float(settings["scale"]), vy_ratio=float(settings["vy_ratio"]),
                       scale_crop_driving_video=float(settings["scale_crop_driving_video"]),
                       vy_ratio_crop_driving_video=float(
                           settings["vy_ratio_crop_driving_video"]))
    stage = FaceStage(faces.models, faces.missing, crop)
    name = os.path.basename(source_image)
    rgb = images.resize_to_limit(images.read_image(source_image), options.source_max_dim,
                                 options.source_division)
    source = SourceImage(rgb, stage.source_image(rgb, name, do_crop))
    animator = stream_lib.Animator(
        self.engine.pipe, source, options, faces=stage, name="webcam",
        paste_back=bool(settings["flag_pasteback"]) and do_crop and options.flag_stitching)
    return Session(key, animator, note)

  def frame(self, frame=None, source_image=None, flag_do_crop=True, flag_relative_motion=True,
            flag_stitching=True, flag_pasteback=True, animation_region="all",
            driving_option="expression-friendly", driving_multiplier=1.0,
            flag_crop_driving_video=False, scale=2.3, vy_ratio=-0.125,
            scale_crop_driving_video=2.2, vy_ratio_crop_driving_video=-0.1, session=None):
    """(animated frame, 'fps | latency | frame' line, session) for one webcam frame.

    The first frame of a session (or after a pause of RESTART_GAP_S, a new source or new
    settings) is the reference: the animation follows the motion relative to it.
    """
    settings = {k: v for k, v in locals().items()
                if k not in ("self", "frame", "source_image", "session")}
    start = time.perf_counter()
    if frame is None:  # the camera has not delivered a frame yet
      return None, session.stats() if session else "waiting for the camera", session
    if not source_image:
      raise gr.Error("Please upload a source portrait in the Source Image tab to drive it with "
                     "the webcam.", duration=None, print_exception=False)
    try:
      key = (manifest.sha256(source_image),) + tuple(sorted(settings.items()))
      if session is None or session.key != key:
        session = self._session(key, source_image, settings)
      elif session.done and start - session.done[-1] > RESTART_GAP_S:
        session.animator.reset()
      out = session.animator.animate([frame], [start], session.frames)
    except UserError as e:
      raise gr.Error(str(e).splitlines()[0], duration=None, print_exception=False) from None
    session.frames += 1
    end = time.perf_counter()
    session.done.append(end)
    session.latency.append(end - start)
    image = out[0].result if out else None  # none before the first face
    return image, session.stats(), session

  def reset(self, session=None):
    """The next frame becomes the reference pose (and fixes a new driving crop box)."""
    if session is not None:
      session.animator.reset()
    return session


@dataclasses.dataclass
class Tab:
  """The tab's components, for `wire`."""
  camera: gr.Image
  result: gr.Image
  stats: gr.Textbox
  reset: gr.Button
  frame_api: gr.Button  # invisible: carries the one-frame API event
  session: gr.State


def build_tab() -> Tab:
  """The webcam tab's components (inside a gr.Tab the caller opened)."""
  gr.Markdown("Start the camera: the source portrait of the Source Image tab follows your face "
              "live, relative to your pose in the first frame (Reset: the next frame is the new "
              "reference). The animation options below apply.")
  with gr.Row():
    camera = ImageInput(sources=["webcam"], streaming=True, type="numpy", label="Webcam",
                        elem_id="webcam_input")
    result = gr.Image(type="numpy", format="jpeg", label="Animated (live)",
                      elem_id="webcam_result", interactive=False)
  with gr.Row():
    stats = gr.Textbox(label="frame rate | server latency per frame", interactive=False,
                       elem_id="webcam_stats")
    reset = gr.Button("Reset reference pose", elem_id="webcam_reset")
  frame_api = gr.Button(visible=False)
  # Dropped an hour after the session's last frame: an encoded source is megabytes.
  session = gr.State(None, time_to_live=3600)
  return Tab(camera, result, stats, reset, frame_api, session)


def wire(webcam: Webcam, tab: Tab, settings: list, concurrency: int = 1) -> None:
  """The stream event (`/webcam`), its one-frame twin (`/webcam_frame`) and the reset.

  `settings`: the page's components for the parameters of `Webcam.frame` after `frame`, in
  order, from `source_image` to `vy_ratio_crop_driving_video`.
  """
  inputs = [tab.camera] + settings + [tab.session]
  outputs = [tab.result, tab.stats, tab.session]
  limits = dict(concurrency_id=CONCURRENCY_ID, concurrency_limit=concurrency)
  tab.camera.stream(webcam.frame, inputs, outputs, api_name="webcam", stream_every=STREAM_EVERY,
                    time_limit=TIME_LIMIT, show_progress="hidden", **limits)
  tab.frame_api.click(webcam.frame, inputs, outputs, api_name="webcam_frame",
                      show_progress="hidden", **limits)
  # Named, though private: unnamed, it would take the name `reset` from the editing panel's.
  tab.reset.click(webcam.reset, [tab.session], [tab.session], api_name="webcam_reset",
                  api_visibility="private")

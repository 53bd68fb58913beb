# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The page: the official app's three panels (animation, image retargeting and editing, video
retargeting) with its controls, ranges and defaults, wired to `actions.Actions`.

API names (for `gradio_client`): `animate`, `retarget_image`, `retarget_video`, `source_ratios`,
`reset`, and the live webcam tab's `webcam` (the stream) and `webcam_frame` (one frame a call,
see lp_jax.app.webcam). Their parameters are the names and defaults of the `actions.Actions`
methods (`Webcam.frame` for the webcam's): Gradio reads the names from the signatures and the
defaults from the components' values (None where a component has none and the parameter
defaults to None), so both hold the page's defaults; docs/app.md lists them. The networks run
in one concurrency group, so simultaneous users queue (live webcam streams in their own).
Editing re-renders on slider *release* (and on the toggles), never on every drag step.
"""

import os

import gradio as gr

from lp_jax.app import editing
from lp_jax.app import webcam
from lp_jax.app.components import ImageInput, VideoInput
from lp_jax.shared import SHARED_ASSETS

CONCURRENCY_ID = "networks"  # every event that runs the networks shares this limit
CSS = """
#banner {padding: 8px 12px; border-radius: 6px; font-weight: 600;}
#banner.synthetic {background: #fde2e1; color: #8a1c13; border: 1px solid #e0a39e;}
#banner.official {background: #e3f1e4; color: #1d5a22; border: 1px solid #a9d3ad;}
"""


def _examples(folder: str, names) -> list:
  paths = [os.path.join(SHARED_ASSETS, folder, n) for n in names]
  return [[p] for p in paths if os.path.exists(p)]


def _crop_number(label, value, minimum=-0.5, maximum=0.5, step=0.01):
  return gr.Number(value=value, label=label, minimum=minimum, maximum=maximum, step=step)


def build(actions, concurrency: int = 1) -> gr.Blocks:
  """The Blocks app of `actions` (an actions.Actions); queue it before launching."""
  heavy = dict(concurrency_id=CONCURRENCY_ID, concurrency_limit=concurrency)
  engine = actions.engine
  with gr.Blocks(title="lp_jax LivePortrait", delete_cache=(600, 3600)) as demo:
    gr.Markdown("# LivePortrait in JAX (lp_jax)")
    gr.Markdown(engine.banner, elem_id="banner",
                elem_classes=["synthetic" if engine.synthetic else "official"])

    # -- animation ----------------------------------------------------------------------------
    gr.Markdown("## Animation: upload a source portrait (or video) and a driving video, image "
                "or motion template, then press Animate")
    with gr.Row():
      with gr.Column():
        with gr.Tabs():
          with gr.Tab("Source Image") as tab_image:
            source_image = ImageInput(type="filepath", label="Source Image")
            ex = _examples("source", ("s0.jpg", "s6.jpg", "s12.jpg", "s31.jpg"))
            if ex:
              gr.Examples(ex, inputs=[source_image], cache_examples=False)
          with gr.Tab("Source Video") as tab_video:
            source_video = VideoInput(label="Source Video")
            ex = _examples("source", ("s13.mp4",))
            if ex:
              gr.Examples(ex, inputs=[source_video], cache_examples=False)
        source_tab = gr.Textbox(value="Image", visible=False)
        tab_image.select(lambda: "Image", None, source_tab, api_visibility="private")
        tab_video.select(lambda: "Video", None, source_tab, api_visibility="private")
        with gr.Accordion("Cropping Options for Source Image or Video", open=True):
          with gr.Row():
            flag_do_crop = gr.Checkbox(value=True, label="do crop (source)")
            scale = _crop_number("source crop scale", 2.3, 1.8, 3.2, 0.05)
            vx_ratio = _crop_number("source crop x", 0.0)
            vy_ratio = _crop_number("source crop y", -0.125)
      with gr.Column():
        with gr.Tabs():
          with gr.Tab("Driving Video") as tab_dvideo:
            driving_video = VideoInput(label="Driving Video")
            ex = _examples("driving", ("d0.mp4", "d11.mp4"))
            if ex:
              gr.Examples(ex, inputs=[driving_video], cache_examples=False)
          with gr.Tab("Driving Image") as tab_dimage:
            driving_image = ImageInput(type="filepath", label="Driving Image")
            ex = _examples("driving", ("d12.jpg",))
            if ex:
              gr.Examples(ex, inputs=[driving_image], cache_examples=False)
          with gr.Tab("Driving Template") as tab_dtpl:
            driving_template = gr.File(type="filepath", file_types=[".pkl", ".npz"],
                                       label="Motion template (.pkl official, .npz lp_jax)")
            ex = _examples("driving", ("d1.pkl", "d5.pkl"))
            if ex:
              gr.Examples(ex, inputs=[driving_template], cache_examples=False)
          with gr.Tab("Webcam (live)", elem_id="tab_webcam"):
            webcam_tab = webcam.build_tab()
        driving_tab = gr.Textbox(value="Video", visible=False)
        tab_dvideo.select(lambda: "Video", None, driving_tab, api_visibility="private")
        tab_dimage.select(lambda: "Image", None, driving_tab, api_visibility="private")
        tab_dtpl.select(lambda: "Template", None, driving_tab, api_visibility="private")
        with gr.Accordion("Cropping Options for Driving Video", open=True):
          with gr.Row():
            flag_crop_driving = gr.Checkbox(value=False, label="do crop (driving)")
            scale_d = _crop_number("driving crop scale", 2.2, 1.8, 3.2, 0.05)
            vx_ratio_d = _crop_number("driving crop x", 0.0)
            vy_ratio_d = _crop_number("driving crop y", -0.1)
    with gr.Accordion("Animation Options", open=True):
      with gr.Row():
        flag_normalize_lip = gr.Checkbox(value=False, label="normalize lip")
        flag_relative = gr.Checkbox(value=True, label="relative motion")
        flag_pasteback = gr.Checkbox(value=True, label="paste-back")
        flag_stitching = gr.Checkbox(value=True, label="stitching")
        region = gr.Radio(["exp", "pose", "lip", "eyes", "all"], value="all",
                          label="animation region")
        driving_option = gr.Radio(["expression-friendly", "pose-friendly"],
                                  value="expression-friendly", label="driving option (i2v)")
        multiplier = gr.Number(value=1.0, label="driving multiplier (i2v)", minimum=0.0,
                               maximum=2.0, step=0.02)
        smooth = gr.Number(value=3e-7, label="motion smooth strength (v2v)", minimum=1e-11,
                           maximum=1e-2, step=1e-8)
    animate_button = gr.Button("Animate", variant="primary", elem_id="animate")
    with gr.Row():
      out_video = gr.Video(label="The animated video in the original image space",
                           autoplay=False)
      out_video_concat = gr.Video(label="The animated video (driving | source | result)",
                                  autoplay=False)
    with gr.Row():
      out_image = gr.Image(type="filepath", label="The animated image in the original image "
                           "space (image driver)")
      out_image_concat = gr.Image(type="filepath", label="The animated image (concat)")
    gr.ClearButton([source_image, source_video, driving_video, driving_image, driving_template,
                    out_video, out_video_concat, out_image, out_image_concat], value="Clear")
    animate_button.click(
        actions.animate,
        inputs=[source_image, source_video, driving_video, driving_image, driving_template,
                flag_normalize_lip, flag_relative, flag_do_crop, flag_pasteback, flag_stitching,
                region, driving_option, multiplier, flag_crop_driving, scale, vx_ratio, vy_ratio,
                scale_d, vx_ratio_d, vy_ratio_d, smooth, source_tab, driving_tab],
        outputs=[out_video, out_video_concat, out_image, out_image_concat],
        api_name="animate", show_progress="full", **heavy)
    webcam.wire(actions.webcam, webcam_tab, [
        source_image, flag_do_crop, flag_relative, flag_stitching, flag_pasteback, region,
        driving_option, multiplier, flag_crop_driving, scale, vy_ratio, scale_d, vy_ratio_d],
                concurrency)

    _retargeting_panel(actions, heavy)
    _video_panel(actions, heavy)
  return demo


def _retargeting_panel(actions, heavy) -> None:
  gr.Markdown("## Image retargeting and expression editing: upload a portrait, then move the "
              "sliders (the image updates when a slider is released)")
  sliders = {}

  def slider(name):
    c = next(c for c in editing.CONTROLS if c.name == name)
    sliders[name] = gr.Slider(c.minimum, c.maximum, value=c.value, step=c.step, label=c.label,
                              elem_id=f"slider_{name}")
    return sliders[name]

  with gr.Row():
    do_crop = gr.Checkbox(value=True, label="do crop (source)")
    stitching = gr.Checkbox(value=True, label="stitching")
    scale = gr.Number(value=2.5, label="crop scale", minimum=1.8, maximum=3.2, step=0.05)
    slider("eye_ratio")
    slider("lip_ratio")
  with gr.Row():
    with gr.Column():
      with gr.Accordion("Facial movement sliders", open=True):
        with gr.Row():
          for name in ("head_pitch", "head_yaw", "head_roll"):
            slider(name)
        with gr.Row():
          for name in ("mov_x", "mov_y", "mov_z"):
            slider(name)
    with gr.Column():
      with gr.Accordion("Facial expression sliders", open=True):
        with gr.Row():
          for name in ("lip_variation_zero", "lip_variation_one", "lip_variation_two"):
            slider(name)
        with gr.Row():
          for name in ("lip_variation_three", "smile", "wink"):
            slider(name)
        with gr.Row():
          for name in ("eyebrow", "eyeball_direction_x", "eyeball_direction_y"):
            slider(name)
  reset = gr.Button("Reset", elem_id="reset")
  with gr.Row():
    image = ImageInput(type="filepath", label="Retargeting Image Input", elem_id="retarget_input")
    result = gr.Image(type="numpy", format="jpeg", label="Retargeting Result (512x512)",
                      elem_id="retarget_result")
    pasted = gr.Image(type="numpy", format="jpeg", label="Paste-back Result",
                      elem_id="retarget_pasted")
  ex = _examples("source", ("s0.jpg", "s6.jpg", "s12.jpg"))
  if ex:
    gr.Examples(ex, inputs=[image], cache_examples=False)
  gr.ClearButton([image, result, pasted], value="Clear")

  ordered = [sliders[n] for n in editing.CONTROL_NAMES]
  inputs = ordered + [image, scale, stitching, do_crop]

  def preview(*args):
    """Renders when there is an image (after upload / reset); clears the outputs otherwise."""
    return actions.retarget_image(*args) if args[-4] else (None, None)

  # Every slider release and toggle redraws. The page's eye / lip sliders always hold a number
  # (the image's own ratios after an upload), so this event stays private and the API gets its
  # own event below, whose eye / lip inputs default to None (the image's own ratios): a client
  # that passes only `image` and `smile` leaves the eyes and lips alone, as the page does.
  gr.on([s.release for s in ordered] + [stitching.change, do_crop.change, scale.submit],
        actions.retarget_image, inputs=inputs, outputs=[result, pasted],
        api_name="retarget_image_page", api_visibility="private", trigger_mode="always_last",
        show_progress="minimal", **heavy)
  own_ratios = [gr.Number(value=None, minimum=0.0, maximum=0.8, visible=False,
                          label=f"{sliders[n].label} (default: the image's own)")
                for n in ("eye_ratio", "lip_ratio")]
  gr.on([], actions.retarget_image, inputs=own_ratios + inputs[2:], outputs=[result, pasted],
        api_name="retarget_image", **heavy)
  image.change(actions.source_ratios, inputs=[image, scale, do_crop],
               outputs=[sliders["eye_ratio"], sliders["lip_ratio"]], api_name="source_ratios",
               **heavy).then(preview, inputs=inputs, outputs=[result, pasted],
                             api_visibility="private", show_progress="minimal", **heavy)
  reset.click(actions.reset, inputs=[image, scale, do_crop],
              outputs=ordered + [scale, stitching, do_crop], api_name="reset", **heavy).then(
                  preview, inputs=inputs, outputs=[result, pasted], api_visibility="private",
                  show_progress="minimal", **heavy)


def _video_panel(actions, heavy) -> None:
  gr.Markdown("## Video retargeting: a source video with a target lip-open ratio, or with its "
              "lips kept silent")
  with gr.Row():
    do_crop = gr.Checkbox(value=True, label="do crop (source)")
    scale = gr.Number(value=2.3, label="crop scale", minimum=1.8, maximum=3.2, step=0.05)
    lip = gr.Slider(0.0, 0.8, value=0.0, step=0.01, label="target lip-open ratio")
    smooth = gr.Number(value=3e-6, label="motion smooth strength", minimum=1e-11, maximum=1e-2,
                       step=1e-8)
    silent = gr.Checkbox(value=False, label="keeping the lip silent")
  button = gr.Button("Retargeting Video", variant="primary", elem_id="retarget_video")
  with gr.Row():
    video = VideoInput(label="Retargeting Video Input")
    concat = gr.Video(label="Retargeting Result (source crop | result)", autoplay=False)
    result = gr.Video(label="Paste-back Result", autoplay=False)
  ex = _examples("source", ("s13.mp4",))
  if ex:
    gr.Examples(ex, inputs=[video], cache_examples=False)
  gr.ClearButton([lip, video, concat, result], value="Clear")
  button.click(actions.retarget_video, inputs=[lip, video, scale, smooth, silent, do_crop],
               outputs=[concat, result], api_name="retarget_video", show_progress="full",
               **heavy)

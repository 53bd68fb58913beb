# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The command line of `infer.py`: every official `ArgumentConfig` field, plus lp_jax's own.

Each official field keeps its name, default and meaning, grouped as the official config groups
them. tyro (which the official CLI uses) spells fields with hyphens (`--driving-multiplier`,
`--no-flag-stitching`); both spellings are accepted, as are a few short aliases of our own.
"""

import argparse
import dataclasses

from lp_jax.inference.options import (AUDIO_PRIORITIES, DRIVING_OPTIONS, FACE_BACKENDS,
                                      FRAME_OPS, AnimationOptions, CropOptions)
from lp_jax.ops.motion import REGIONS


def _spellings(name: str, *aliases: str) -> list[str]:
  """`--name` and tyro's `--na-me`, then any aliases."""
  out = [f"--{name}"]
  if "_" in name:
    out.append(f"--{name.replace('_', '-')}")
  return out + list(aliases)


def _bool(group, name: str, default: bool, help_text: str, aliases=()) -> None:
  """--flag / --no_flag in both spellings (tyro's boolean style)."""
  on, off = tuple(aliases[:1]), tuple(aliases[1:])
  group.add_argument(*_spellings(name, *on), dest=name, action="store_true", default=default,
                     help=f"{help_text} (default: {'on' if default else 'off'}; "
                          f"--no_{name} turns it off)")
  group.add_argument(*_spellings(f"no_{name}", *off), dest=name, action="store_false",
                     help=argparse.SUPPRESS)


def _value(group, name: str, help_text: str, aliases=(), **kwargs) -> None:
  group.add_argument(*_spellings(name, *aliases), dest=name, help=help_text, **kwargs)


def positive_int(text: str) -> int:
  value = int(text)
  if value < 1:
    raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
  return value


class OneLineParser(argparse.ArgumentParser):
  """Usage errors as one line on stderr with exit status 1, like every other input error."""

  def error(self, message):
    self.exit(1, f"error: {message} (see {self.prog} --help)\n")


def build_parser(prog: str = "infer.py", description: str | None = None) -> argparse.ArgumentParser:
  """The whole `infer.py` parser, grouped like the official `ArgumentConfig`."""
  p = OneLineParser(prog=prog, description=description,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
  anim, crop = AnimationOptions(), CropOptions()

  g = p.add_argument_group("input arguments")
  _value(g, "source", "source portrait (image) or video; cropped to the face unless "
         "--no_flag_do_crop", aliases=("-s",), required=True)
  _value(g, "driving", "driving video, image, or motion template (.pkl official, .npz ours)",
         aliases=("-d",), required=True)
  _value(g, "output_dir", "directory for the results", aliases=("-o",), default="animations/")

  g = p.add_argument_group("inference arguments")
  _bool(g, "flag_use_half_precision", True,
        "F, M, W, G in float16 on GPU (the official autocast), bfloat16 on TPU; CPU stays "
        "float32")
  _value(g, "precision", "force the networks' compute precision on any backend: fp32, bf16 "
         "or fp16 (lp_jax)", choices=("fp32", "bf16", "fp16"), default=None)
  _bool(g, "flag_crop_driving_video", anim.flag_crop_driving_video,
        "crop driving frames to the face (automatic when the video is not square)")
  _value(g, "device_id", "index of the accelerator to run on (jax.devices())", type=int,
         default=0)
  _bool(g, "flag_force_cpu", False, "run on the CPU even when an accelerator is present")
  _bool(g, "flag_normalize_lip", anim.flag_normalize_lip,
        "close the source lips before animating (relative motion, no retargeting)")
  _bool(g, "flag_source_video_eye_retargeting", anim.flag_source_video_eye_retargeting,
        "source video: keep every frame's eyes as open as in the first frame")
  _bool(g, "flag_eye_retargeting", anim.flag_eye_retargeting,
        "transfer the driving eye-open ratio")
  _bool(g, "flag_lip_retargeting", anim.flag_lip_retargeting,
        "transfer the driving lip-open ratio")
  _bool(g, "flag_stitching", anim.flag_stitching, "stitching MLP (needed for paste-back)",
        aliases=("--stitching", "--no_stitching"))
  _bool(g, "flag_relative_motion", anim.flag_relative_motion,
        "relative motion (off: absolute driving motion)", aliases=("--relative", "--absolute"))
  _bool(g, "flag_pasteback", anim.flag_pasteback,
        "paste the animated face back into the source frame",
        aliases=("--pasteback", "--no_pasteback"))
  _bool(g, "flag_do_crop", anim.flag_do_crop, "crop the source to its face",
        aliases=("--crop", "--no_crop"))
  _value(g, "driving_option", "motion normalisation for an image source and a driving video",
         choices=DRIVING_OPTIONS, default=anim.driving_option)
  _value(g, "driving_multiplier", "scales the driving motion (x_d - x_s)", type=float,
         default=anim.driving_multiplier, aliases=("--multiplier",))
  _value(g, "driving_smooth_observation_variance",
         "Kalman observation variance for a source video (larger: smoother)", type=float,
         default=anim.driving_smooth_observation_variance)
  _value(g, "audio_priority", "whose audio the result keeps when both have one",
         choices=AUDIO_PRIORITIES, default=anim.audio_priority)
  _value(g, "animation_region", "what the driving motion moves", choices=REGIONS,
         default=anim.animation_region, aliases=("--region",))

  g = p.add_argument_group("source crop arguments")
  _value(g, "det_thresh", "face detection score threshold", type=float, default=crop.det_thresh)
  _value(g, "scale", "source crop size over the face (larger: smaller face in the crop)",
         type=float, default=crop.scale)
  _value(g, "vx_ratio", "horizontal shift of the source crop; no effect, as in the official "
         "crop_image, which never forwards it", type=float, default=crop.vx_ratio)
  _value(g, "vy_ratio", "vertical shift of the source crop (fraction of its size; negative: "
         "more forehead)", type=float, default=crop.vy_ratio)
  _bool(g, "flag_do_rot", crop.flag_do_rot, "rotate the source crop upright")
  _value(g, "source_max_dim", "downscale the source so its longer side is at most this",
         type=int, default=anim.source_max_dim)
  _value(g, "source_division", "crop the source's sides to multiples of this", type=int,
         default=anim.source_division)

  g = p.add_argument_group("driving crop arguments")
  _value(g, "scale_crop_driving_video", "driving crop size over the face", type=float,
         default=crop.scale_crop_driving_video)
  _value(g, "vx_ratio_crop_driving_video", "horizontal shift of the driving crop; no effect, as "
         "in the official code, which passes it under an unread keyword", type=float,
         default=crop.vx_ratio_crop_driving_video)
  _value(g, "vy_ratio_crop_driving_video", "vertical shift of the driving crop", type=float,
         default=crop.vy_ratio_crop_driving_video)

  g = p.add_argument_group("gradio arguments (read by the web app; accepted and unused here, "
                           "as by the official inference.py)")
  _value(g, "server_port", "port of the web app", type=int, default=8890, aliases=("-p",))
  _bool(g, "share", False, "share the web app publicly")
  _value(g, "server_name", "address the web app binds to", default="127.0.0.1")
  _bool(g, "flag_do_torch_compile", False,
        "official torch.compile switch; lp_jax always compiles its networks with jax.jit")
  _value(g, "gradio_temp_dir", "temporary folder of the web app", default=None)

  g = p.add_argument_group("lp_jax arguments")
  _value(g, "weights", "pretrained_weights/, its liveportrait/ folder, or a converted directory",
         aliases=("-w",), default="pretrained_weights")
  _value(g, "face_models", "pretrained_weights/ folder holding insightface/ and liveportrait/"
         "landmark.onnx (default: the one -w points into, if any)", default=None)
  _value(g, "face_backend", "how the ONNX face models run: jitted JAX functions on the "
         "networks' device, or onnxruntime on the CPU", choices=FACE_BACKENDS,
         default=crop.face_backend)
  _bool(g, "animal", False, "the official animals pipeline on the liveportrait_animals weights "
        "(inference_animals.py); animal sources must be pre-cropped")
  g.add_argument("--all_devices", action="store_true",
                 help="shard W+G batches over every local device (overrides --device_id)")
  g.add_argument("--gif", action="store_true", help="also write <src>--<drv>.gif")
  _value(g, "batch_size", "driving frames per jitted W+G call (rounded up to the device count)",
         type=positive_int, default=8)
  _value(g, "frame_ops", "where the paste-back runs: in the W+G program on the networks' "
         "device, with OpenCV on the host, or auto: the device on GPU and TPU, the host on CPU "
         "(same numbers either way)", choices=FRAME_OPS, default="auto")
  _value(g, "lip_array", "the neutral-lip constant (default: the official lip_array.pkl's "
         "values, bundled)", default=None)
  _value(g, "save_template", "the driving motion template: the official pkl or ours (npz)",
         choices=("pkl", "npz", "none"), default="pkl")
  _value(g, "max_frames", "animate at most this many driving (and source) frames",
         type=positive_int, default=None)
  g.add_argument("--quiet", "-q", action="store_true", help="no progress output")
  _value(g, "compilation_cache", "JAX persistent compilation cache ('' disables it)",
         default=None)
  return p


def options_from_args(args: argparse.Namespace) -> tuple[AnimationOptions, CropOptions]:
  """The animation and crop options of parsed arguments (InputError on a bad value)."""
  values = vars(args)
  pick = lambda cls: cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)
                            if f.name in values})
  return pick(AnimationOptions), pick(CropOptions)


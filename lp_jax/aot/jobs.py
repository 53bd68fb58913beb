# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The programs that `train.py` and `infer.py` run, built as shapes only for a target's devices.

- stage1 / stage2: `lp_jax.training.step.jit_step` of the stage's step (Stage I: generator and
  discriminator updates in one program; Stage II: the retargeting update), with the state's
  rule-derived shardings, the batch over data x fsdp and the state donated, exactly as
  `lp_jax.training.loop` builds it. State, auxiliary networks / frozen base and batch are
  `jax.eval_shape` results carrying shardings: nothing is allocated.
- infer: `lp_jax.inference.decoder.decode_steps`, the W+G batch program of `infer.py` for an
  image source (f_s and x_s shared, x_d per frame), frames split over the devices.
- warp: W's part of that program alone.
- faces: the three ONNX face models (detector, 106 points, 203 points) as `lp_jax.onnx_jax`
  functions, one program each at `batch` frames per device (float32, as the graphs are).
"""

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from lp_jax import errors
from lp_jax import precision as precision_lib
from lp_jax.aot.targets import AotError, Target
from lp_jax.data import frames
from lp_jax.inference import decoder, networks
from lp_jax.models import kernels, liveportrait
from lp_jax.models import variants as model_configs
from lp_jax.training import mesh as mesh_lib
from lp_jax.training import placement, stages
from lp_jax.training import step as step_lib

PRECISIONS = precision_lib.DTYPES  # 'fp32' | 'bf16' | 'fp16' -> compute dtype


@dataclasses.dataclass
class Program:
  """One jitted program and its abstract arguments."""
  name: str  # 'stage1_step' / 'stage2_step' / 'wg_batch'
  fn: Any  # the jitted function
  args: tuple  # ShapeDtypeStructs (with shardings where the program has them)
  mesh: dict  # {axis: size}
  per_device_batch: int
  global_batch: int
  precision: str  # compute dtype: 'fp32' | 'bf16' | 'fp16'
  unit: str  # what one batch element is: 'sample' (training pair) or 'frame'


def default_precision(platform: str) -> str:
  """The official --flag_use_half_precision: fp16 on CUDA, bf16 on TPU, fp32 on CPU."""
  return precision_lib.resolve(None, True, platform)


def parse_mesh(text: str) -> list:
  """'data=-1,fsdp=4' -> [('data', -1), ('fsdp', 4)]."""
  out = []
  for part in text.split(","):
    name, _, size = part.partition("=")
    if not name or not size.lstrip("-").isdigit():
      raise AotError(f"--mesh {text!r}: expected axis=size pairs, e.g. data=-1,fsdp=4")
    out.append((name.strip(), int(size)))
  return out


def training_mesh(config, devices: list, num_slices: int = 1) -> Mesh:
  """`config.mesh` over `devices`, slices (if several) along the first axis (DCN)."""
  names, sizes = mesh_lib.mesh_shape(config.mesh, len(devices))  # ConfigError: a UserError
  if num_slices == 1:
    return mesh_lib.create_mesh(config, devices)
  if sizes[0] % num_slices:
    raise AotError(f"mesh {dict(zip(names, sizes))}: the first axis must be divisible by the "
                   f"{num_slices} slices (they are joined along it)")
  ici = (sizes[0] // num_slices,) + tuple(sizes[1:])
  dcn = (num_slices,) + (1,) * (len(sizes) - 1)
  grid = mesh_utils.create_hybrid_device_mesh(ici, dcn, devices=devices)
  return Mesh(grid, names, axis_types=(AxisType.Auto,) * len(names))


def abstract_batch(config, global_batch: int, sharding) -> dict:
  """ShapeDtypeStructs of one training batch (schema of lp_jax.data.pipeline)."""
  s, b = int(config.data.image_size), global_batch
  f32 = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32, sharding=sharding)
  flag = lambda: jax.ShapeDtypeStruct((b,), jnp.bool_, sharding=sharding)
  return {"source": f32(b, s, s, 3), "driving": f32(b, s, s, 3), "is_image": flag(),
          "source_landmarks": f32(b, frames.NUM_LANDMARKS, 2),
          "driving_landmarks": f32(b, frames.NUM_LANDMARKS, 2), "has_landmarks": flag()}


def training_program(config, target: Target, devices: list,
                     per_device_batch: int | None = None) -> Program:
  """The jitted Stage I / II step of `config` on `target`, with abstract arguments."""

  if config.get("num_devices"):
    devices = devices[:config.num_devices]
  mesh = training_mesh(config, devices, target.num_slices)
  axes = dict(mesh.shape)
  shards = mesh_lib.batch_shards(mesh)
  if per_device_batch is None:
    if config.batch_size % shards:
      raise AotError(f"batch_size {config.batch_size} is not divisible by the {shards} batch "
                     f"shards of mesh {axes}; pass --per_device_batch")
    per_device_batch = config.batch_size // shards
  global_batch = per_device_batch * shards

  # The target's layer forms, with per-frame gathers kept on each device's frames.
  setup = stages.for_config(config).setup(platform=target.platform, batch_shards=shards)
  key = jax.eval_shape(lambda: jax.random.key(0))
  abstract = jax.eval_shape(setup.init_fn, key)
  shardings = mesh_lib.state_shardings(abstract, mesh, config.sharding)
  extra = {k: jax.eval_shape(init, key) for k, init in setup.extra_inits.items()}
  if config.stage == 2:
    extra = extra["base"]
  extra_shardings = mesh_lib.state_shardings(extra, mesh, config.sharding)
  replicated = NamedSharding(mesh, P())
  fn = step_lib.jit_step(step_lib.stage1_step if config.stage == 1 else step_lib.stage2_step,
                         models=setup.models, loss_config=config.loss, mesh=mesh,
                         state_shardings=shardings, extra_shardings=extra_shardings)
  args = (placement.with_shardings(abstract, shardings),
          abstract_batch(config, global_batch, mesh_lib.batch_sharding(mesh)),
          placement.with_shardings(extra, extra_shardings),
          jax.ShapeDtypeStruct(key.shape, key.dtype, sharding=replicated))
  precision = "bf16" if config.get("mixed_precision") else "fp32"
  return Program(f"stage{config.stage}_step", fn, args, axes, per_device_batch, global_batch,
                 precision, "sample")


def forms_overrides(pairs: dict) -> dict:
  """{field: value} of KernelForms fields, checked against the dataclass ('none' -> None)."""
  fields = {f.name for f in dataclasses.fields(kernels.KernelForms)}
  out = {}
  for name, value in pairs.items():
    if name not in fields:
      raise AotError(f"--kernel_form {name}: not a KernelForms field; known: {sorted(fields)}")
    out[name] = None if isinstance(value, str) and value.lower() == "none" else value
  return out


def _build(name: str, config, dtype, target: Target, overrides: dict | None):
  # The layer forms of the target's backend, not of this compiling host ('cpu').
  net = liveportrait.build(name, config, spectral_norm_folded=True, dtype=dtype,
                           platform=target.platform)
  if overrides and hasattr(net, "forms"):
    net = net.clone(forms=dataclasses.replace(net.forms, **overrides))
  return net


def infer_program(target: Target, devices: list, batch: int, precision: str,
                  model_variant: str = "official", warp_only: bool = False,
                  overrides: dict | None = None) -> Program:
  """infer.py's W+G batch program (image source) at `batch` frames per device.

  `warp_only`: W's part of it alone (f_s and x_s broadcast to the frames, W's outputs).
  `overrides`: KernelForms fields replacing the target's (`forms_overrides`).
  """
  config = errors.config_variant(model_configs.get_config, model_variant)  # --model_config
  dtype = PRECISIONS[precision]
  nets = {n: _build(n, config, dtype, target, overrides)
          for n in ("warping_module", "spade_generator")}
  mesh = Mesh(np.array(devices), ("data",))  # FrameDecoder's mesh over the local devices
  nets["warping_module"] = decoder.warp_over_devices(nets["warping_module"], len(devices))
  if warp_only:
    return _warp_program(nets["warping_module"], config, mesh, batch, precision)
  # FrameDecoder's generator chunk for the target's backend (maps frames only on one device).
  chunk = networks.default_generator_chunk(target.platform) if len(devices) == 1 else None
  fn = decoder.decode_steps(nets["warping_module"], nets["spade_generator"], mesh, chunk)[True]
  # The inference form's variables (G's spectral norm folded, as lp_jax.weights.for_inference
  # leaves them): the folded modules' own init shapes.
  key = jax.eval_shape(lambda: jax.random.key(0))
  warp_vars, gen_vars = (
      jax.eval_shape(nets[n].init, key, *liveportrait.example_inputs(n, config))
      for n in ("warping_module", "spade_generator"))
  f_s, kp, _ = jax.eval_shape(lambda: liveportrait.example_inputs("warping_module", config, 1))
  x_d = jax.ShapeDtypeStruct((batch * len(devices),) + kp.shape[1:], kp.dtype)
  return Program("wg_batch", fn, (warp_vars, gen_vars, f_s, kp, x_d), {"data": len(devices)},
                 batch, batch * len(devices), precision, "frame")


def _warp_program(warp_net, config, mesh: Mesh, batch: int, precision: str) -> Program:
  """W over `batch` frames per device, as `infer_program` runs it inside W+G."""
  frames, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())

  def step(warp_vars, feature_3d, kp_source, kp_driving):
    b = kp_driving.shape[0]
    feature_3d = jnp.broadcast_to(feature_3d, (b,) + feature_3d.shape[1:])
    return warp_net.apply(warp_vars, feature_3d, kp_driving,
                          jnp.broadcast_to(kp_source, kp_driving.shape))

  fn = jax.jit(step, in_shardings=(replicated, replicated, replicated, frames),
               out_shardings=frames)
  key = jax.eval_shape(lambda: jax.random.key(0))
  variables = jax.eval_shape(warp_net.init, key,
                             *liveportrait.example_inputs("warping_module", config))
  f_s, kp, _ = jax.eval_shape(lambda: liveportrait.example_inputs("warping_module", config, 1))
  devices = mesh.devices.size
  x_d = jax.ShapeDtypeStruct((batch * devices,) + kp.shape[1:], kp.dtype)
  return Program("w_batch", fn, (variables, f_s, kp, x_d), {"data": devices}, batch,
                 batch * devices, precision, "frame")


# (model file, network input [C, H, W]) of the face-model programs: SCRFD at the detection canvas
# LivePortrait prepares (512x512), 2d106det and landmark.onnx at their fixed inputs.
FACE_MODELS = (("det_10g.onnx", (3, 512, 512)), ("2d106det.onnx", (3, 192, 192)),
               ("landmark.onnx", (3, 224, 224)))


def face_model_path(folder: str, file: str) -> str:
  """`file` in a flat folder of ONNX models or in a pretrained_weights/ layout."""
  # Imported here: only the faces job reads the face models (onnxruntime and onnx load with it).
  from lp_jax.detect import models as face_models  # pylint: disable=g-import-not-at-top
  layout = next(rel for rel in face_models.FILES if os.path.basename(rel) == file)
  for path in (os.path.join(folder, file), os.path.join(folder, layout)):
    if os.path.isfile(path):
      return path
  raise AotError(f"{folder}: no {file} (flat, or at {layout} as in pretrained_weights/)")


def face_programs(folder: str, devices: list, batch: int) -> list:
  """One Program per face model: its graph at `batch` frames per device, frames over devices."""
  # Imported here: only the faces job converts ONNX graphs.
  from lp_jax import onnx_jax  # pylint: disable=g-import-not-at-top
  mesh = Mesh(np.array(devices), ("data",))
  frames, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
  programs = []
  for file, chw in FACE_MODELS:
    function = onnx_jax.load(face_model_path(folder, file))
    params = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=replicated)
              for k, v in function.params.items()}
    x = jax.ShapeDtypeStruct((batch * len(devices),) + chw, jnp.float32, sharding=frames)
    # Exported graphs may pin batch 1 (a Reshape to [1, ...]): map the frames through it.
    per_frame = lambda params, x, f=function: jax.vmap(lambda one: f.apply(params, one[None]))(x)
    fn = jax.jit(per_frame, in_shardings=(replicated, frames))
    programs.append(Program(os.path.splitext(file)[0], fn, (params, x), {"data": len(devices)},
                            batch, batch * len(devices), "fp32", "frame"))
  return programs


def frame_programs(devices: list, batch: int, frame_size: tuple[int, int]) -> list:
  """The frame ops infer.py runs on an accelerator (`--frame_ops device`), each alone, at `batch`
  frames per device: the paste-back of 512 crops into one shared `frame_size` source frame (an
  image source), into one source frame each with its mask warped per frame (a source video),
  and the driving crops (a frame_size frame warped to 512 and resized to 256; a 512x512 frame
  resized to 256)."""
  # Imported here: only this job needs the OpenCV-exact warps.
  from lp_jax.ops import cv_resize  # pylint: disable=g-import-not-at-top
  from lp_jax.ops import paste_back as paste_ops  # pylint: disable=g-import-not-at-top
  mesh = Mesh(np.array(devices), ("data",))
  frames, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
  width, height = frame_size
  n = batch * len(devices)
  u8 = lambda shape, sharding: jax.ShapeDtypeStruct(shape, jnp.uint8, sharding=sharding)
  f32 = lambda shape, sharding: jax.ShapeDtypeStruct(shape, jnp.float32, sharding=sharding)
  crops = u8((n, 512, 512, 3), frames)

  def per_frame_paste(crop, m_c2o, frame):
    return paste_ops.paste_back(crop, m_c2o, frame, paste_ops.frame_mask(m_c2o, (width, height)))

  programs = [
      ("paste_back_shared", paste_ops.paste_back,
       (crops, f32((3, 3), replicated), u8((height, width, 3), replicated),
        f32((height, width, 3), replicated))),
      ("paste_back_per_frame", per_frame_paste,
       (crops, f32((n, 3, 3), frames), u8((n, height, width, 3), frames))),
      ("driving_crop", lambda f, m: paste_ops.driving_crop(f, m),
       (u8((n, height, width, 3), frames), f32((3, 3), replicated))),
      ("driving_resize_512", lambda f: cv_resize.resize_linear(f, (256, 256)),
       (u8((n, 512, 512, 3), frames),)),
  ]
  return [Program(name, jax.jit(fn, out_shardings=frames), args, {"data": len(devices)}, batch,
                  n, "fp32", "frame") for name, fn, args in programs]

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Jitted calls of the LivePortrait networks (the official `LivePortraitWrapper`), batched.

Images are NHWC float32 RGB in [0, 1]. Each method takes a leading batch of frames. Variables
are passed to the jitted functions as arguments (never closed over), so they are not baked into
the executables as constants and the same executable serves any weights of the same shapes.
The jitted functions keep their traces on disk (lp_jax.inference.programs), so a later run
calls them without tracing the networks again.
"""

import jax
import jax.numpy as jnp

from lp_jax import weights
from lp_jax.inference import programs
from lp_jax.models import kernels, liveportrait
from lp_jax.models import variants as model_configs
from lp_jax.ops import keypoints, motion, resize

# The side of the frames the pipeline pastes back and writes: what the official G renders. A
# model that renders smaller (the demo model) is upsampled to it, so every later stage is shared.
RENDER_SIZE = 512


def to_float32(tree):
  """Floating leaves cast to float32: half-precision networks hand float32 to the keypoint
  math, the stitching MLPs and the callers (lp_jax.precision)."""
  return jax.tree.map(lambda x: x.astype(jnp.float32)
                      if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


@programs.cached_jit(static_argnums=0)
def apply_net(net, variables, *args):
  return to_float32(net.apply(variables, *args))


@programs.cached_jit(static_argnums=0)
def kp_info(net, variables, image):
  """Refined motion: degrees [B, 1], kp / exp [B, K, 3], scale [B, 1], t [B, 3], and R."""
  raw = to_float32(net.apply(variables, image))
  return keypoints.with_rotation(keypoints.refine_kp_info(raw))


def to_unit(rgb) -> jnp.ndarray:
  """uint8 RGB -> [0, 1] float32, the official `/ 255.0`."""
  return jnp.asarray(rgb, jnp.float32) / 255.0


def _resized(image, sizes: tuple[int, ...]):
  """[B, H, W, C] images resized through `sizes` in turn (LivePortraitModels._sizes)."""
  for size in sizes:
    image = resize_input(image, size)
  return image


def _unit_input(crops, sizes: tuple[int, ...]):
  """uint8 [B, 256, 256, 3] crops as a network sees them."""
  return _resized(to_unit(crops), sizes)


@programs.cached_jit(static_argnums=(0, 1))
def crop_motion(net, sizes: tuple[int, ...], variables, crops):
  """(kp_info, x_s [B, K, 3]) of uint8 crops: the scaling, M and the keypoint transform as one
  program, where they were a dozen small ones each traced, lowered and loaded before the first
  frame."""
  info = kp_info(net, variables, _unit_input(crops, sizes))
  return info, keypoints.transform_kp_info(info)


@programs.cached_jit(static_argnums=(0, 1, 2, 3))
def crop_encoding(appearance_net, motion_net, appearance_sizes: tuple[int, ...],
                  motion_sizes: tuple[int, ...], appearance_vars, motion_vars, crops):
  """(f_s, kp_info, x_s) of uint8 source crops: F and crop_motion as one program."""
  feature_3d = apply_net(appearance_net, appearance_vars, _unit_input(crops, appearance_sizes))
  return (feature_3d, *crop_motion(motion_net, motion_sizes, motion_vars, crops))


@programs.cached_jit(static_argnums=0)
def stitching_correction(net, variables, kp_source, kp_driving):
  """x_d plus the stitching MLP's correction, as one program (a call per batch of a stream)."""
  delta = to_float32(net.apply(variables, motion.stitching_input(kp_source, kp_driving)))
  return motion.apply_stitching(kp_driving, delta)


# resize.resize as a kept program: each input side and batch is one, which jax.image.resize
# would otherwise trace and lower again in every run.
_resize_program = programs.cached_jit(resize.resize, static_argnums=1)


def resize_input(image, size: int):
  """[B, H, W, C] images resized to `size` x `size` (unchanged when they already are)."""
  if tuple(image.shape[1:3]) == (size, size):
    return image
  return _resize_program(image, size)


def default_generator_chunk(platform: str | None = None) -> int | None:
  """Frames per generator pass inside a batch (`KernelForms.generator_chunk` of `platform`,
  default the running backend): 1 on CPU, the whole batch on GPU and TPU.

  On XLA:CPU the generator's 256x256 activations of a 4-frame batch run ~30% slower per frame
  than one frame at a time (memory traffic), so there the batch is mapped frame by frame inside
  the same jitted call.
  """
  return kernels.for_platform(platform or jax.default_backend()).generator_chunk


def decode_in_chunks(gen_net, gen_vars, features, chunk: int | None):
  """G over [B, ...] features, `chunk` frames per step of a lax.map (None: all at once); when
  B is not a multiple of `chunk`, lax.map runs the remaining frames as one shorter step."""
  if not chunk or chunk >= features.shape[0]:
    return gen_net.apply(gen_vars, features)
  one = lambda x: gen_net.apply(gen_vars, x[None])[0]
  if chunk == 1:
    # batch_size=1's scan without its vmap over a batch of one: the same frames, a third less
    # to trace and lower (the demo model's W+G: 2.7 -> 1.8 s on CPU), which a run pays before
    # its first frame.
    return jax.lax.map(one, features)
  return jax.lax.map(one, features, batch_size=chunk)


def warp_decode_fn(warp_net, gen_net, warp_vars, gen_vars, feature_3d, kp_source, kp_driving,
                   generator_chunk: int | None = None):
  """W then G on a batch of driving keypoints; f_s and x_s may have batch 1 (broadcast)."""
  b = kp_driving.shape[0]
  feature_3d = jnp.broadcast_to(feature_3d, (b,) + feature_3d.shape[1:])
  kp_source = jnp.broadcast_to(kp_source, kp_driving.shape)
  warped = warp_net.apply(warp_vars, feature_3d, kp_driving, kp_source)
  image = resize.resize(decode_in_chunks(gen_net, gen_vars, warped["out"], generator_chunk),
                        RENDER_SIZE)
  return to_float32({"out": image, "occlusion_map": warped["occlusion_map"],
                     "deformation": warped["deformation"], "warped": warped["out"]})


warp_decode_jit = programs.cached_jit(warp_decode_fn, static_argnums=(0, 1, 7))


class LivePortraitModels:
  """The seven networks with their (inference-folded) variables.

  `dtype` is the compute dtype of F, M, W and G (lp_jax.precision); the MLPs stay float32 and
  every output is float32. `input_sizes` (lp_jax.weights.input_sizes of the manifest): the 256
  crops are resized to the resolution the networks were trained at, then to F's and M's sides;
  the official networks see them unchanged.
  """

  def __init__(self, variables: dict, config=None, dtype=jnp.float32, input_sizes=None):
    self.config = config or model_configs.get_config()
    self.input_sizes = {**weights.OFFICIAL_INPUT_SIZES, **(input_sizes or {})}
    self.variables = weights.for_inference(variables)
    self.nets = {name: liveportrait.build(name, self.config, spectral_norm_folded=True,
                                          dtype=dtype)
                 for name in variables}

  @classmethod
  def from_pretrained(cls, path: str, config=None, dtype=jnp.float32):
    variables, manifest = weights.load_variables(path, config)
    return cls(variables, config or weights.model_config(manifest), dtype,
               weights.input_sizes(manifest))

  def _input(self, name, image):
    """[B, 256, 256, 3] crops as `name` was trained to see them."""
    return _resized(image, self._sizes(name))

  def _sizes(self, name) -> tuple[int, ...]:
    """The sides `name`'s input is resized to in turn: the training resolution, then its own."""
    return (self.input_sizes["image"], self.input_sizes[name])

  def has(self, name: str) -> bool:
    return name in self.nets

  def network(self, name: str) -> tuple:
    """(Flax module, inference variables) of one network, for callers that jit their own
    programs over it (the sharded W+G decoder, the app's editor)."""
    return self.nets[name], self.variables[name]

  def generator_chunk(self) -> int | None:
    """Frames per generator pass inside a W+G batch on one device (default_generator_chunk)."""
    return default_generator_chunk()

  def _apply(self, name, *args):
    return apply_net(self.nets[name], self.variables[name], *args)

  def extract_feature_3d(self, image):
    """[B, 256, 256, 3] -> f_s [B, D, 64, 64, C]."""
    return self._apply("appearance_feature_extractor",
                       self._input("appearance_feature_extractor", image))

  def motion_raw(self, image):
    """Raw motion-extractor heads (pitch/yaw/roll bin logits, flat kp / exp)."""
    return self._apply("motion_extractor", self._input("motion_extractor", image))

  def crop_motion(self, crops):
    """(kp_info, x_s) of uint8 [B, 256, 256, 3] crops (host or device), in one program."""
    return crop_motion(self.nets["motion_extractor"], self._sizes("motion_extractor"),
                       self.variables["motion_extractor"], crops)

  def crop_encoding(self, crops):
    """(f_s, kp_info, x_s) of uint8 [B, 256, 256, 3] source crops, in one program."""
    names = ("appearance_feature_extractor", "motion_extractor")
    return crop_encoding(*(self.nets[n] for n in names), *(self._sizes(n) for n in names),
                         *(self.variables[n] for n in names), crops)

  def get_kp_info(self, image):
    return kp_info(self.nets["motion_extractor"], self.variables["motion_extractor"],
                   self._input("motion_extractor", image))

  def warp_decode(self, feature_3d, kp_source, kp_driving):
    """{'out' [B, 512, 512, 3] (RENDER_SIZE), 'occlusion_map' [B, 64, 64, 1], 'deformation',
    'warped'}."""
    return warp_decode_jit(self.nets["warping_module"], self.nets["spade_generator"],
                           self.variables["warping_module"], self.variables["spade_generator"],
                           feature_3d, kp_source, kp_driving, default_generator_chunk())

  def stitch(self, kp_source, kp_driving):
    """Stitching MLP output [B, 65] for x_s (batch 1 or B) and x_d [B, K, 3]."""
    return self._apply("stitching", motion.stitching_input(kp_source, kp_driving))

  def stitching(self, kp_source, kp_driving):
    """x_d with the stitching correction applied (x_d unchanged without a stitching net)."""
    if not self.has("stitching"):
      return kp_driving
    return stitching_correction(self.nets["stitching"], self.variables["stitching"], kp_source,
                                kp_driving)

  def retarget_eye(self, kp_source, eye_ratio):
    """[B, K, 3] keypoint offset from x_s and [B, 3] (source eyes, driving eye) ratios."""
    out = self._apply("eye", motion.retarget_input(kp_source, eye_ratio))
    return out.reshape(eye_ratio.shape[0], -1, 3)

  def retarget_lip(self, kp_source, lip_ratio):
    """[B, K, 3] keypoint offset from x_s and [B, 2] (source lip, driving lip) ratios."""
    out = self._apply("lip", motion.retarget_input(kp_source, lip_ratio))
    return out.reshape(lip_ratio.shape[0], -1, 3)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""LivePortrait's 203-point landmark model (landmark.onnx) as a differentiable training function.

Stage II measures the eye / lip openness of its renders with it (paper Eq. 6) and Stage I finds
the landmarks of data frames that have none (the Wing term). `LandmarkModel(path)` runs the
official graph through lp_jax.onnx_jax and follows the official runner
(lp_jax.detect.landmark203, upstream `LandmarkRunner.run`) in jnp:

* `crop_matrices`: the upright similarity crop of lp_jax.preprocess.crop.crop_image (scale 1.5,
  vy_ratio -0.1, rotation on, 224 px) placed by prior landmarks; placement only, no gradient;
* `affine_crop`: bilinear sampling of that crop from [B, H, W, 3] images in [0, 1] with
  cv2.warpAffine's geometry (pixel centres at integers, black outside), differentiable in the
  images;
* the graph on the [B, 3, 224, 224] crops, vmapped over the batch (the graph is exported with
  batch 1 and may pin it in a Reshape, as the synthetic stand-in does); its third output times
  224 is mapped back to image pixels.

The model is frozen: its parameters are stop_gradient'ed and gradients reach only the images.
The methods take the parameters as an argument (training passes them among the step's frozen
inputs under `NAME`, which keeps the weights out of the compiled program's constants); None
uses the loaded arrays as constants.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from lp_jax import onnx_jax
from lp_jax.detect import landmark203
from lp_jax.ops.grid_sample import grid_sample
from lp_jax.preprocess import crop as crop_lib
from lp_jax.training import regions
from lp_jax.training.errors import ConfigError

NAME = "landmark_model"  # its entry in the step's frozen inputs and the loss config's key
DSIZE = landmark203.DSIZE
SCALE = landmark203.CROP_SCALE
VY_RATIO = landmark203.CROP_VY_RATIO
# The official crop divides by the landmarks' extent; a degenerate first estimate (all points on
# one spot, as an untrained or lost model can give) would make the crop scale infinite.
MIN_BOX = 1.0  # pixels
_EYE_LIP_INDEX = crop_lib._EYE_LIP_INDEX  # pylint: disable=protected-access

sg = jax.lax.stop_gradient


def crop_matrices(landmarks, dsize: int = DSIZE, scale: float = SCALE,
                  vy_ratio: float = VY_RATIO):
  """(M_o2c, M_c2o) [B, 2, 3] float32: image <-> crop of crop_image(..., flag_do_rot=True).

  Args:
    landmarks: [B, P, 2] pixel (x, y), P = 203 or 106 (the layouts crop_image reads).
    dsize, scale, vy_ratio: the crop side, the box over the landmarks' extent, its shift up.

  Returns:
    M_o2c maps image pixels to crop pixels, M_c2o back (pixel i centred at i in both).
  """
  pts = sg(jnp.asarray(landmarks, jnp.float32))
  if pts.shape[1] not in _EYE_LIP_INDEX:
    raise ValueError(f"crop_matrices: {pts.shape[1]} landmarks (expected 203 or 106)")
  left, right, lip = _EYE_LIP_INDEX[pts.shape[1]]
  eyes = (jnp.mean(pts[:, list(left)], axis=1) + jnp.mean(pts[:, list(right)], axis=1)) / 2
  uy = (pts[:, lip[0]] + pts[:, lip[1]]) / 2 - eyes  # eyes -> mouth, the crop's down axis
  length = jnp.linalg.norm(uy, axis=-1, keepdims=True)
  short = length <= 1e-3
  uy = jnp.where(short, jnp.array([0.0, 1.0]), uy / jnp.where(short, 1.0, length))
  ux = jnp.stack([uy[:, 1], -uy[:, 0]], axis=-1)
  rot = jnp.stack([ux, uy], axis=1)  # [B, 2, 2], rows u_x, u_y
  center0 = jnp.mean(pts, axis=1)
  rpts = jnp.einsum("bij,bpj->bpi", rot, pts - center0[:, None])  # the (u_x, u_y) frame
  lo, hi = jnp.min(rpts, axis=1), jnp.max(rpts, axis=1)
  size = jnp.maximum(jnp.max(hi - lo, axis=-1) * scale, MIN_BOX)  # [B], the square's side
  center = center0 + jnp.einsum("bi,bij->bj", (lo + hi) / 2, rot) + uy * (vy_ratio * size)[:, None]
  s = (dsize / size)[:, None, None]
  half = jnp.full((2,), dsize / 2, jnp.float32)
  # crop = s * R (p - centre) + dsize / 2 (the official matrix: R = [[cos, sin], [-sin, cos]]
  # of the box angle, whose rows are u_x and u_y); its inverse is R^T (q - dsize / 2) / s + centre.
  m_o2c = jnp.concatenate([s * rot, (half - s[..., 0] * jnp.einsum("bij,bj->bi", rot, center))
                           [..., None]], axis=-1)
  rot_t = jnp.swapaxes(rot, 1, 2)
  m_c2o = jnp.concatenate([rot_t / s, (center - jnp.einsum("bij,j->bi", rot_t, half) /
                                       s[..., 0])[..., None]], axis=-1)
  return sg(m_o2c), sg(m_c2o)


def transform_points(points, m):
  """[B, P, 2] points through [B, 2, 3] affine matrices."""
  return jnp.einsum("bij,bpj->bpi", m[:, :, :2], points) + m[:, None, :, 2]


def affine_crop(images, m_c2o, dsize: int = DSIZE, clamp: bool = False):
  """[B, dsize, dsize, C] bilinear samples of `images` [B, H, W, C] at M_c2o (crop -> image).

  Crop pixel (x, y) reads the image at M_c2o (x, y, 1), pixel centres at integers (cv2's
  warpAffine and resize). Outside the image a tap reads 0 (warpAffine's black border), or with
  `clamp` the sample point is clamped to the image (resize's replicated edge). Differentiable in
  the images; the matrices are placement only.
  """
  h, w = images.shape[1], images.shape[2]
  m = sg(jnp.asarray(m_c2o, jnp.float32))
  q = jnp.arange(dsize, dtype=jnp.float32)
  qx, qy = q[None, None, :], q[None, :, None]
  px = m[:, 0, 0, None, None] * qx + m[:, 0, 1, None, None] * qy + m[:, 0, 2, None, None]
  py = m[:, 1, 0, None, None] * qx + m[:, 1, 1, None, None] * qy + m[:, 1, 2, None, None]
  if clamp:
    px, py = jnp.clip(px, 0, w - 1), jnp.clip(py, 0, h - 1)
  # grid_sample's [-1, 1] coordinates with align_corners=False: pixel p -> (2p + 1) / size - 1.
  grid = jnp.stack([(2 * px + 1) / w - 1, (2 * py + 1) / h - 1], axis=-1)
  return grid_sample(images, grid)


class LandmarkModel:
  """landmark.onnx as a frozen, differentiable function of [B, H, W, 3] images in [0, 1].

  Hashable by identity, so it can be a field of the (static) Stage I / II model tuples.
  """

  def __init__(self, path):
    path = os.fspath(path)
    if not os.path.isfile(path):
      raise ConfigError(f"loss.{NAME} {path}: no such file (LivePortrait's landmark.onnx)")
    self.path = path
    self.graph = onnx_jax.load(path)
    shape = self.graph.inputs[0].shape if len(self.graph.inputs) == 1 else None
    if shape is None or tuple(shape[1:]) != (3, DSIZE, DSIZE) or len(self.graph.outputs) < 3:
      raise ConfigError(f"loss.{NAME} {path}: not LivePortrait's landmark model (one input "
                        f"[1, 3, {DSIZE}, {DSIZE}] and three outputs expected)")
    self.dsize = DSIZE
    self.params = dict(self.graph.params)  # host arrays: {initializer name: array}

  def _params(self, params):
    return jax.tree.map(sg, self.params if params is None else params)

  def points(self, crops, params=None):
    """[B, 203, 2] landmarks in crop pixels of [B, 224, 224, 3] crops in [0, 1]."""
    p = self._params(params)
    x = jnp.transpose(crops.astype(jnp.float32), (0, 3, 1, 2))[:, None]  # [B, 1, 3, 224, 224]
    out = jax.vmap(lambda xi: self.graph.apply(p, xi)[2])(x)  # [B, 1, 2P]
    return out.reshape(out.shape[0], -1, 2) * self.dsize

  def landmarks(self, images, prior_landmarks, params=None):
    """[B, 203, 2] image pixels: the official crop placed by `prior_landmarks` [B, P, 2] (image
    pixels), then the model. Gradients flow to `images`, none to the placement."""
    _, m_c2o = crop_matrices(prior_landmarks, self.dsize)
    crops = affine_crop(images.astype(jnp.float32), m_c2o, self.dsize)
    return transform_points(self.points(crops, params), m_c2o)

  def landmarks_from_scratch(self, images, params=None):
    """[B, 203, 2] image pixels of images without prior landmarks (stop_gradient'ed).

    The official runner's whole-image path (cv2.resize to 224, points scaled back by
    max(h, w) / 224) gives a first estimate, which then places one official crop: tracking the
    same frame twice.
    """
    images = sg(images.astype(jnp.float32))
    b, h, w = images.shape[:3]
    d = self.dsize
    # cv2.resize (INTER_LINEAR): crop pixel q samples (q + 0.5) * size / 224 - 0.5, clamped.
    resize = np.array([[w / d, 0, 0.5 * w / d - 0.5], [0, h / d, 0.5 * h / d - 0.5]], np.float32)
    first = self.points(affine_crop(images, jnp.broadcast_to(resize, (b, 2, 3)), d, clamp=True),
                        params) * (max(h, w) / d)
    return sg(self.landmarks(images, first, params))

  def fill(self, images, landmarks, has_landmarks, params=None):
    """[B, 203, 2] pixel landmarks: `landmarks` where `has_landmarks` [B], else from scratch."""
    has = jnp.asarray(has_landmarks, bool)[:, None, None]
    return sg(jnp.where(has, jnp.asarray(landmarks, jnp.float32),
                        self.landmarks_from_scratch(images, params)))

  def openness(self, images, prior_landmarks, params=None):
    """Official (eye [B, 2] left / right, lip [B, 1]) openness ratios (regions.landmark_ratios)
    of the model's landmarks on `images`, the crop placed by `prior_landmarks`."""
    return regions.landmark_ratios(self.landmarks(images, prior_landmarks, params))


def from_loss_config(cfg):
  """The LandmarkModel of the loss config's `landmark_model` path, None when it is empty."""
  path = cfg.get(NAME) or ""
  return LandmarkModel(path) if path else None

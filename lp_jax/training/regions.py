# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Face, lip and eye regions of training images: boxes, differentiable crops, masks, ratios.

Boxes are [B, 4] arrays (x0, y0, x1, y1) in *unit* image coordinates (0 = left / top edge,
1 = right / bottom edge), so the same box serves every resolution. They come from the 203-point
landmarks (pixel (x, y) in the S x S frame) when a sample has them, and otherwise from fixed
boxes placed where LivePortrait's crop (`preprocess/crop.py`, scale 2.3, vy_ratio -0.125) puts
the face. Only the landmark indices whose meaning is documented are used: the eye corners and
lid mid-points (0, 6, 12, 18 / 24, 30, 36, 42), the mouth corners (48, 66) and the inner-lip
mid-points (90, 102); see `preprocess/ratios.py`.
"""

import jax
import jax.numpy as jnp

from lp_jax.ops.grid_sample import grid_sample

LEFT_EYE = (0, 6, 12, 18)  # corner, upper lid, corner, lower lid
RIGHT_EYE = (24, 30, 36, 42)
MOUTH = (48, 66, 90, 102)  # corner, corner, inner upper lip, inner lower lip
EPS = 1e-6
# Side of each landmark box relative to its reference length (face: extent of all points,
# lip: mouth width, eye: eye width); the margins keep the surrounding skin in the crop.
# configs/losses.py starts `loss.regions.box_scales` from these.
BOX_SCALES = {"face": 1.2, "lip": 1.6, "left_eye": 1.8, "right_eye": 1.8}

# Where the official crop puts the parts of an average face, as unit boxes (our estimate; only
# used for samples without landmarks, so a rough box is enough).
FALLBACK_BOXES = {
    "face": (0.22, 0.22, 0.78, 0.86),
    "lip": (0.38, 0.62, 0.62, 0.80),
    "left_eye": (0.32, 0.40, 0.48, 0.52),
    "right_eye": (0.52, 0.40, 0.68, 0.52),
}


def _square_box(center, side):
  """[B, 2] centre and [B] side (unit coordinates) -> [B, 4] box."""
  half = side[:, None] / 2
  return jnp.concatenate([center - half, center + half], axis=1)


def landmark_boxes(landmarks, has_landmarks, image_size: int, scales=None,
                   fallback=None) -> dict:
  """Square region boxes from 203-point landmarks, or the fallback boxes where absent.

  Args:
    landmarks: [B, 203, 2] pixel (x, y) in the image_size x image_size frame (zeros if absent).
    has_landmarks: [B] bool.
    image_size: S, the side of the frame the landmarks live in.
    scales: dict region -> box side over its reference length (default BOX_SCALES).
    fallback: dict region -> unit box for samples without landmarks (default FALLBACK_BOXES).

  Returns:
    dict 'face', 'lip', 'left_eye', 'right_eye' -> [B, 4] unit boxes (x0, y0, x1, y1).
  """
  scales = dict(BOX_SCALES, **(scales or {}))
  fallback = dict(FALLBACK_BOXES, **(fallback or {}))
  # Pixel i has its centre at i (OpenCV's convention, which the crop transforms follow).
  lmk = (jax.lax.stop_gradient(landmarks.astype(jnp.float32)) + 0.5) / image_size  # unit
  b = lmk.shape[0]
  lo, hi = jnp.min(lmk, axis=1), jnp.max(lmk, axis=1)  # [B, 2]
  boxes = {"face": _square_box((lo + hi) / 2, jnp.max(hi - lo, axis=1) * scales["face"])}
  mouth = lmk[:, [MOUTH[0], MOUTH[1]]]
  width = jnp.linalg.norm(mouth[:, 0] - mouth[:, 1], axis=-1)
  boxes["lip"] = _square_box(jnp.mean(lmk[:, list(MOUTH)], axis=1), width * scales["lip"])
  for name, idx in (("left_eye", LEFT_EYE), ("right_eye", RIGHT_EYE)):
    width = jnp.linalg.norm(lmk[:, idx[0]] - lmk[:, idx[2]], axis=-1)
    boxes[name] = _square_box(jnp.mean(lmk[:, list(idx)], axis=1), width * scales[name])
  has = jnp.asarray(has_landmarks, bool)[:, None]
  return {k: jnp.where(has, v, jnp.broadcast_to(jnp.asarray(fallback[k], jnp.float32), (b, 4)))
          for k, v in boxes.items()}


def crop_regions(images, boxes, size: int):
  """Bilinear crops of `boxes` resampled to size x size; differentiable in images and boxes.

  Args:
    images: [B, H, W, C].
    boxes: [B, 4] unit boxes (x0, y0, x1, y1); parts outside the image read as zeros.
    size: side of the output crops.

  Returns:
    [B, size, size, C].
  """
  # Output pixel centres at (i + 0.5) / size of the box; grid_sample wants [-1, 1] coordinates
  # where -1 / +1 are the image's outer edges (align_corners=False), i.e. 2 * unit - 1.
  t = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size  # [size]
  x = boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * t  # [B, size]
  y = boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * t
  gx = jnp.broadcast_to(x[:, None, :], (x.shape[0], size, size))
  gy = jnp.broadcast_to(y[:, :, None], (y.shape[0], size, size))
  grid = jnp.stack([gx, gy], axis=-1) * 2 - 1  # [B, size, size, 2] (x, y)
  return grid_sample(images, grid.astype(images.dtype))


def box_mask(boxes, image_size: int):
  """[B, S, S, 1] float mask: 1 at pixels whose centre lies inside the box."""
  c = (jnp.arange(image_size, dtype=jnp.float32) + 0.5) / image_size  # pixel centres, unit
  inside_x = (c[None] >= boxes[:, 0:1]) & (c[None] <= boxes[:, 2:3])  # [B, S]
  inside_y = (c[None] >= boxes[:, 1:2]) & (c[None] <= boxes[:, 3:4])
  return (inside_y[:, :, None] & inside_x[:, None, :]).astype(jnp.float32)[..., None]


def region_mask(boxes: dict, names, image_size: int):
  """Union of the box masks of `names` ([B, S, S, 1])."""
  masks = [box_mask(jax.lax.stop_gradient(boxes[n]), image_size) for n in names]
  return jnp.max(jnp.stack(masks), axis=0)


def distance_ratio(lmk, a: int, b: int, c: int, d: int):
  """|L[a] - L[b]| / (|L[c] - L[d]| + 1e-6), [B, 1]; the jnp twin of `preprocess.ratios`."""
  num = jnp.linalg.norm(lmk[:, a] - lmk[:, b], axis=-1, keepdims=True)
  den = jnp.linalg.norm(lmk[:, c] - lmk[:, d], axis=-1, keepdims=True)
  return num / (den + EPS)


def landmark_ratios(lmk):
  """Official eye ([B, 2] left, right) and lip ([B, 1]) openness ratios of [B, 203, 2] points."""
  eye = jnp.concatenate([distance_ratio(lmk, 6, 18, 0, 12), distance_ratio(lmk, 30, 42, 24, 36)],
                        axis=1)
  return eye, distance_ratio(lmk, 90, 102, 48, 66)


def landmark_widths(lmk, image_size: int):
  """Eye widths [B, 2] and mouth width [B, 1] in keypoint units ([-1, 1] spans the frame)."""
  scale = 2.0 / image_size
  eye = jnp.stack([jnp.linalg.norm(lmk[:, 0] - lmk[:, 12], axis=-1),
                   jnp.linalg.norm(lmk[:, 24] - lmk[:, 36], axis=-1)], axis=1) * scale
  lip = jnp.linalg.norm(lmk[:, 48] - lmk[:, 66], axis=-1, keepdims=True) * scale
  return eye, lip


def pixels_to_keypoint_units(points, image_size: int):
  """Pixel (x, y) (pixel i has its centre at i) -> the [-1, 1] frame of the keypoints."""
  return (2 * points + 1) / image_size - 1

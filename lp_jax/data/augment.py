# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Per-element augmentation: one affine warp (crop jitter, flip) and a colour jitter.

A base frame (lp_jax.data.frames) of side W becomes an S x S training frame through one
`cv2.warpAffine`: the output window is the whole base canvas, zoomed by `scale`, shifted by
(`tx`, `ty`) canvas sides, rotated by `angle` and optionally mirrored. Landmarks follow the same
matrix. Borders revealed by zooming out or shifting are mirrored (BORDER_REFLECT_101), which
keeps the image statistics closer to the real frame than a black band would.

Pairing rules (the pipeline applies them, lp_jax.data.pipeline):
- a video pair shares one geometry, one flip and one colour jitter: the motion between the two
  frames is the clip's own, and nothing in the pair's appearance differs that the generator
  could not know from the source;
- a still-image pair shares the flip and the colour jitter but gets two independent geometries,
  the only "motion" a still can supply;
- a sample with landmarks is never flipped, because mirrored 203-point landmarks would need the
  layout's left/right permutation, which is not published.

All random numbers are drawn up front from the element's `np.random.Generator`, in a fixed order,
so an element is a pure function of (seed, index).
"""

import dataclasses

import cv2
import numpy as np

_GREY = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma, as PIL/torchvision


@dataclasses.dataclass(frozen=True)
class Geometry:
  """Output-window jitter: zoom (>1 zooms in), shift in canvas sides, rotation in degrees."""
  scale: float = 1.0
  tx: float = 0.0
  ty: float = 0.0
  angle: float = 0.0


@dataclasses.dataclass(frozen=True)
class Colour:
  """Colour jitter factors (1 = unchanged) and hue shift in turns."""
  brightness: float = 1.0
  contrast: float = 1.0
  saturation: float = 1.0
  hue: float = 0.0


IDENTITY = Geometry()


def sample_geometry(rng: np.random.Generator, aug) -> Geometry:
  """Draws a Geometry: 4 uniforms, always (a fixed draw count keeps streams aligned)."""
  u = [float(v) for v in rng.uniform(-1.0, 1.0, size=4)]  # Python floats keep images float32
  return Geometry(scale=1.0 + float(aug["scale"]) * u[0], tx=float(aug["translate"]) * u[1],
                  ty=float(aug["translate"]) * u[2], angle=float(aug["rotate_deg"]) * u[3])


def sample_colour(rng: np.random.Generator, aug) -> Colour:
  """Draws a Colour: 4 uniforms, always."""
  u = [float(v) for v in rng.uniform(-1.0, 1.0, size=4)]
  return Colour(brightness=1.0 + float(aug["brightness"]) * u[0],
                contrast=1.0 + float(aug["contrast"]) * u[1],
                saturation=1.0 + float(aug["saturation"]) * u[2], hue=float(aug["hue"]) * u[3])


def affine_matrix(base_size: int, out_size: int, geom: Geometry, flip: bool) -> np.ndarray:
  """[2, 3] float64 matrix taking base-frame pixels to output pixels (cv2 pixel-centre coords).

  Output pixel u (centre u + 0.5 in continuous coords) sees base point
  c + R(angle) F (u + 0.5 - S/2) * side / S, with c = canvas centre + (tx, ty) * W, side = W/scale
  and F the optional mirror; this is its inverse.
  """
  w, s = float(base_size), float(out_size)
  k = s * geom.scale / w  # output pixels per base pixel
  th = np.deg2rad(geom.angle)
  rot_inv = np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])
  mirror = np.diag([-1.0 if flip else 1.0, 1.0])
  a = k * mirror @ rot_inv
  centre = np.array([w / 2 + geom.tx * w, w / 2 + geom.ty * w])
  # u = a (x + 0.5 - centre) + S/2 - 0.5 in cv2's integer-centred pixel coords.
  b = a @ (0.5 - centre) + (s / 2 - 0.5)
  return np.concatenate([a, b[:, None]], axis=1)


def warp(frame: np.ndarray, m: np.ndarray, out_size: int) -> np.ndarray:
  """Applies an affine_matrix to a uint8 [W, W, 3] frame -> uint8 [S, S, 3]."""
  return cv2.warpAffine(frame, m, (out_size, out_size), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT_101)


def warp_points(pts: np.ndarray, m: np.ndarray) -> np.ndarray:
  """Applies an affine_matrix to [N, 2] (x, y) points."""
  return (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)


def apply_colour(img: np.ndarray, c: Colour) -> np.ndarray:
  """Colour jitter of a float32 RGB [H, W, 3] image in [0, 1] (torchvision's order and maths)."""
  img = np.clip(img * c.brightness, 0.0, 1.0)
  mean = float((img @ _GREY).mean())
  img = np.clip((img - mean) * c.contrast + mean, 0.0, 1.0)
  grey = (img @ _GREY)[..., None]
  img = np.clip((img - grey) * c.saturation + grey, 0.0, 1.0)
  if c.hue:
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)  # float input: H in degrees [0, 360)
    hsv[..., 0] = np.mod(hsv[..., 0] + 360.0 * c.hue, 360.0)
    img = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0.0, 1.0)
  return img.astype(np.float32)

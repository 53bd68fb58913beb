# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Face-crop geometry of the official LivePortrait pre-processing (`src/utils/crop.py`).

A crop is a similarity transform chosen from facial landmarks: two anchor points (eye centre and
mouth centre) fix the up direction, the landmarks' extent along that frame fixes the size, and a
fixed `scale` / `vy_ratio` pad the box (more forehead). The crop is then sampled with
`cv2.warpAffine` (bilinear, black border).

Everything here is host-side numpy/OpenCV and follows the official arithmetic *including its
dtypes*: landmarks stay float32 through the box computation and the affine matrices are float32, so
that `cv2.warpAffine` sees bit-identical matrices and produces bit-identical crops.

The official environment pins NumPy 1.26, whose promotion differs from NumPy 2's (NEP 50) where a
float32 *scalar* meets a Python number: NumPy 1 widens the result to float64, NumPy 2 keeps
float32. The crop scale and translation, and the box corners, are such scalar arithmetic, so they
are computed here in Python floats (float64) before the cast to float32, as NumPy 1 does.

Official quirks reproduced on purpose:
  * `crop_image` never forwards `vx_ratio` to the transform estimate, so the source crop behaves as
    if `vx_ratio == 0` whatever the configuration says (`apply_vx_ratio=True` opts out).
  * The driving-video crop passes its vx ratio under a keyword nobody reads, so it is 0 too
    (`driving_bbox` takes no vx argument), and its box is axis-aligned even though the landmarks
    may be rolled.
  * Source images are cropped from the 106 InsightFace points, source videos from 203 points.
  * The 512 -> 256 source resize uses INTER_AREA; driving crops use INTER_LINEAR.
  * The 9-point (animal) anchor uses points 0-1 of a *re-stacked* array, i.e. the midpoint of the
    two eye centres, and its point 3, the lip centre.
"""

import math

import cv2
import numpy as np

# Anchor points per landmark layout: (left-eye indices, right-eye indices, two lip indices).
_EYE_LIP_INDEX = {
    106: ((33, 35, 40, 39), (87, 89, 94, 93), (52, 61)),
    203: ((0, 6, 12, 18), (24, 30, 36, 42), (48, 66)),
    101: ((39, 42, 45, 48), (51, 54, 57, 60), (75, 81)),
}

SOURCE_DSIZE = 512
SOURCE_SCALE = 2.3
SOURCE_VY_RATIO = -0.125
DRIVING_SCALE = 2.2
DRIVING_VY_RATIO = -0.1


def _rotate(pts, m) -> np.ndarray:
  """pts @ m.T for [N, 2] points and a 2x2 matrix, each product rounded before the sum.

  Upstream writes a matmul, which numpy hands to BLAS; whether its kernel fuses the multiply-add
  depends on the CPU, and the reference environment's does not (its crops and boxes reproduce
  only with separately rounded products). Elementwise ufuncs never fuse, on any machine.
  """
  pts, m = np.asarray(pts), np.asarray(m)
  x, y = pts[..., 0:1], pts[..., 1:2]
  return np.concatenate([x * m[0, 0] + y * m[0, 1], x * m[1, 0] + y * m[1, 1]], axis=-1)


def _as_float(pts) -> np.ndarray:
  """Keeps float landmarks' dtype (the official code never casts); integers become float32."""
  pts = np.asarray(pts)
  return pts if np.issubdtype(pts.dtype, np.floating) else pts.astype(np.float32)


def _two_points(eye_a, eye_b, lip_a, lip_b, use_lip):
  """(eye centre, lip centre) when use_lip, else (eye a, eye b)."""
  if use_lip:
    return np.stack([(eye_a + eye_b) / 2, (lip_a + lip_b) / 2], axis=0)
  return np.stack([eye_a, eye_b], axis=0)


def parse_pt2_from_pt_x(pts, use_lip: bool = True) -> np.ndarray:
  """Two anchor points [2, 2] from a 106/203/101/68/5/9-point (or >101-point) landmark set.

  With use_lip (the default everywhere in the pipelines) the rows are the eye centre and the mouth
  centre, so that the crop's y axis runs from the eyes to the mouth. Without it, the rows are the
  two eye centres with the second one rotated by 90 degrees about the first, which gives the same
  kind of "down" vector from the eye line.
  """
  pts = _as_float(pts)
  n = pts.shape[0]
  if n in _EYE_LIP_INDEX or n > 101:
    # Any other dense layout larger than 101 is read as its first 101 points, as upstream does.
    left, right, lip = _EYE_LIP_INDEX[n if n in _EYE_LIP_INDEX else 101]
    pt2 = _two_points(np.mean(pts[list(left)], axis=0), np.mean(pts[list(right)], axis=0),
                      pts[lip[0]], pts[lip[1]], use_lip)
  elif n == 68:
    # The standard 68 -> 5 reduction (1-based 37/40, 43/46 eye corners, 49/55 mouth corners).
    left_eye = np.mean(pts[[36, 39]], axis=0)
    right_eye = np.mean(pts[[42, 45]], axis=0)
    pt2 = _two_points(left_eye, right_eye, pts[48], pts[54], use_lip)
  elif n == 5:
    if use_lip:
      pt2 = np.stack([(pts[0] + pts[1]) / 2, (pts[3] + pts[4]) / 2], axis=0)
    else:
      pt2 = np.stack([pts[0], pts[1]], axis=0)
  elif n == 9:
    # Order: right eye right/left, left eye right/left, nose, lip right/left, upper/lower lip.
    left_eye = (pts[2] + pts[3]) / 2
    right_eye = (pts[0] + pts[1]) / 2
    if use_lip:
      # Upstream re-stacks [left eye, right eye, nose, lip centre] and then reads rows 0-1 and 3.
      pt2 = np.stack([(left_eye + right_eye) / 2, (pts[5] + pts[6]) / 2], axis=0)
    else:
      pt2 = np.stack([left_eye, right_eye], axis=0)
  else:
    raise ValueError(f"unsupported landmark count {n} (expected 5, 9, 68, 101, 106, 203 or >101)")

  if not use_lip:
    # Turn the eye-to-eye vector into a "down" vector so parse_rect_from_landmark can use it.
    v = pt2[1] - pt2[0]
    pt2[1, 0] = pt2[0, 0] - v[1]
    pt2[1, 1] = pt2[0, 1] + v[0]
  return pt2


def parse_rect_from_landmark(pts, scale: float = 1.5, need_square: bool = True,
                             vx_ratio: float = 0.0, vy_ratio: float = 0.0,
                             use_deg: bool = False, use_lip: bool = True):
  """Rotated face box: (centre [2], size [2], angle) of the landmarks in the anchors' frame.

  The box axes are u_y = normalised (mouth - eyes) and u_x = (u_y.y, -u_y.x); `angle` is the
  rotation of u_x from the image x axis (radians, or degrees with use_deg), positive clockwise in
  image coordinates. The size is the landmarks' extent in that frame (squared to the larger side
  when need_square) times `scale`; the centre is shifted by vx_ratio * size along u_x and
  vy_ratio * size along u_y (negative vy_ratio moves the box up, towards the forehead).
  """
  pts = _as_float(pts)
  pt2 = parse_pt2_from_pt_x(pts, use_lip=use_lip)
  uy = pt2[1] - pt2[0]
  length = np.sqrt(uy[0] * uy[0] + uy[1] * uy[1])  # np.linalg.norm's BLAS dot, unfused
  if length <= 1e-3:
    uy = np.array([0, 1], dtype=np.float32)
  else:
    uy = uy / length
  ux = np.array((uy[1], -uy[0]), dtype=np.float32)
  angle = math.acos(ux[0])
  if ux[1] < 0:
    angle = -angle

  rot = np.array([ux, uy])
  center0 = np.mean(pts, axis=0)
  rpts = _rotate(pts - center0, rot)  # landmarks in the (u_x, u_y) frame about their mean
  lt = np.min(rpts, axis=0)
  rb = np.max(rpts, axis=0)
  center1 = (lt + rb) / 2
  size = rb - lt
  if need_square:
    size[:] = max(size[0], size[1])
  size *= scale
  center = center0 + ux * center1[0] + uy * center1[1]
  center = center + ux * (vx_ratio * size) + uy * (vy_ratio * size)
  if use_deg:
    angle = math.degrees(angle)
  return center, size, angle


def parse_bbox_from_landmark(pts, **kwargs) -> dict:
  """The box of parse_rect_from_landmark as corners.

  Returns a dict with `center`, `size`, `angle` (radians), `bbox` [4, 2] float32 (the axis-aligned
  square around the centre: left-top, right-top, right-bottom, left-bottom; the rotation is *not*
  applied, which is what the official driving crop uses) and `bbox_rot` [4, 2] (the same corners
  rotated by `angle` about the centre). Keyword arguments go to parse_rect_from_landmark.
  """
  center, size, angle = parse_rect_from_landmark(pts, **kwargs)
  # NumPy 1 promotion: float32 scalar -/+ (float32 scalar / 2) is float64 there.
  cx, cy = float(center[0]), float(center[1])
  w, h = float(size[0]), float(size[1])
  bbox = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2],
                   [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]], dtype=np.float32)
  rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]],
                 dtype=np.float32)
  bbox_rot = _rotate(bbox - center, rot) + center
  return {"center": center, "size": size, "angle": angle, "bbox": bbox, "bbox_rot": bbox_rot}


def driving_bbox(pts, scale: float = DRIVING_SCALE, vy_ratio: float = DRIVING_VY_RATIO):
  """[left, top, right, bottom] float32 of one driving frame (official crop_driving_video).

  The official call passes its vx ratio under an unread keyword, hence no vx argument here.
  """
  bbox = parse_bbox_from_landmark(pts, scale=scale, vy_ratio=vy_ratio)["bbox"]
  return np.array([bbox[0, 0], bbox[0, 1], bbox[2, 0], bbox[2, 1]], dtype=bbox.dtype)


def average_bbox(bboxes) -> np.ndarray | None:
  """Mean box over frames, [4] float64 holding the float32 mean (upstream averages float32 boxes
  and converts the result to Python floats). None for no boxes."""
  if len(bboxes) == 0:
    return None
  return np.mean(np.asarray(bboxes), axis=0).astype(np.float64)


def _similarity(s, angle, center, tgt, flag_do_rot: bool) -> np.ndarray:
  """2x3 float32 matrix mapping `center` to `tgt` with scale s (and rotation -angle if asked)."""
  # NumPy 1 promotion: upstream's float32 centres times the float64 scale are float64 there, so
  # every entry is computed in float64 and rounded to float32 once.
  s = float(s)
  cx, cy = float(center[0]), float(center[1])
  tcx, tcy = float(tgt[0]), float(tgt[1])
  if flag_do_rot:
    cos_t, sin_t = math.cos(angle), math.sin(angle)
    return np.array([[s * cos_t, s * sin_t, tcx - s * (cos_t * cx + sin_t * cy)],
                     [-s * sin_t, s * cos_t, tcy - s * (-sin_t * cx + cos_t * cy)]],
                    dtype=np.float32)
  return np.array([[s, 0, tcx - s * cx], [0, s, tcy - s * cy]], dtype=np.float32)


def _homogeneous(m23: np.ndarray):
  """(3x3 M, its inverse), in M's dtype (float32, like upstream's np.linalg.inv)."""
  m = np.vstack([m23, np.array([0, 0, 1], dtype=m23.dtype)])
  return m, np.linalg.inv(m)


def estimate_similar_transform(pts, dsize: int, scale: float = 1.5, vx_ratio: float = 0.0,
                               vy_ratio: float = -0.1, flag_do_rot: bool = True,
                               use_lip: bool = True) -> np.ndarray:
  """M_o2c [2, 3] float32: original image -> `dsize` crop, from landmarks (rotation optional)."""
  center, size, angle = parse_rect_from_landmark(pts, scale=scale, vx_ratio=vx_ratio,
                                                 vy_ratio=vy_ratio, use_lip=use_lip)
  s = dsize / float(size[0])  # NumPy 1 promotion: int / float32 scalar is float64 there
  tgt = np.array([dsize / 2, dsize / 2], dtype=np.float32)
  return _similarity(s, angle, center, tgt, flag_do_rot)


def transform_pts(pts, m) -> np.ndarray:
  """Applies the affine part of a 2x3 or 3x3 matrix to [N, 2] points."""
  m = np.asarray(m)
  return _rotate(pts, m[:2, :2]) + m[:2, 2]


def warp_image(img, m, dsize) -> np.ndarray:
  """cv2.warpAffine with bilinear sampling and a black constant border; dsize int or (w, h)."""
  size = tuple(dsize) if isinstance(dsize, (tuple, list)) else (dsize, dsize)
  return cv2.warpAffine(img, np.asarray(m)[:2, :], dsize=size, flags=cv2.INTER_LINEAR)


def crop_image(img, pts, dsize: int = 224, scale: float = 1.5, vx_ratio: float = 0.0,
               vy_ratio: float = -0.1, flag_do_rot: bool = True,
               apply_vx_ratio: bool = False) -> dict:
  """Landmark-aligned square crop (official `crop_image`).

  Args:
    img: [H, W, C] uint8 image.
    pts: [N, 2] landmarks in image pixels (float32 from the detectors).
    dsize: side of the square crop.
    scale: box size over the landmarks' extent.
    vx_ratio: horizontal shift; ignored unless apply_vx_ratio (official quirk, see module doc).
    vy_ratio: vertical shift as a fraction of the box size.
    flag_do_rot: rotate the crop upright (eye-to-mouth vertical) or keep it axis-aligned.
    apply_vx_ratio: honour vx_ratio (deviates from the official behaviour).

  Returns:
    dict with `img_crop` [dsize, dsize, C], `pt_crop` [N, 2] (landmarks in crop pixels),
    `M_o2c` and `M_c2o` (3x3 float32).
  """
  pts = _as_float(pts)
  m23 = estimate_similar_transform(pts, dsize, scale=scale,
                                   vx_ratio=vx_ratio if apply_vx_ratio else 0.0,
                                   vy_ratio=vy_ratio, flag_do_rot=flag_do_rot)
  m_o2c, m_c2o = _homogeneous(m23)
  return {"img_crop": warp_image(img, m23, dsize), "pt_crop": transform_pts(pts, m23),
          "M_o2c": m_o2c, "M_c2o": m_c2o}


def bbox_transform(bbox, dsize: int = 512, angle: float | None = None,
                   flag_rot: bool = False) -> np.ndarray:
  """M_o2c [2, 3] float32 of the crop of a [left, top, right, bottom] box scaled to `dsize`.

  The scale uses the box width only (the box is square by construction). With flag_rot and an
  angle the crop is also rotated like crop_image.
  """
  # Upstream's box is a list of Python floats (average_bbox's mean, via tolist()); the translation
  # is then float64 arithmetic under NumPy 1 (see _similarity).
  left, top, right, bottom = (float(v) for v in bbox)
  s = dsize / (right - left)
  center = np.array([(left + right) / 2, (top + bottom) / 2], dtype=np.float32)
  tgt = np.array([dsize / 2, dsize / 2], dtype=np.float32)
  return _similarity(s, angle, center, tgt, flag_rot and angle is not None)


def bbox_landmarks(lmk, bbox, dsize: int = 512) -> np.ndarray:
  """Landmarks in the crop of crop_image_by_bbox (without warping the image)."""
  return transform_pts(_as_float(lmk), bbox_transform(bbox, dsize))


def crop_image_by_bbox(img, bbox, lmk=None, dsize: int = 512, angle: float | None = None,
                       flag_rot: bool = False) -> dict:
  """Crop of a given [left, top, right, bottom] box scaled to `dsize` (official driving crop).

  Returns:
    dict with `img_crop`, `lmk_crop` (None without lmk), `M_o2c` and `M_c2o` (3x3 float32).
  """
  m23 = bbox_transform(bbox, dsize, angle, flag_rot)
  m_o2c, m_c2o = _homogeneous(m23)
  lmk_crop = None if lmk is None else transform_pts(_as_float(lmk), m23)
  return {"img_crop": warp_image(img, m23, dsize), "lmk_crop": lmk_crop, "M_o2c": m_o2c,
          "M_c2o": m_c2o}


def resize_area(img, size: int = 256) -> np.ndarray:
  """Square INTER_AREA resize, used for the 512 -> 256 source crops."""
  return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def resize_linear(img, size: int = 256) -> np.ndarray:
  """Square INTER_LINEAR resize, used for driving crops and un-cropped inputs."""
  return cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)


def crop_source_image(img_rgb, lmk, dsize: int = SOURCE_DSIZE, scale: float = SOURCE_SCALE,
                      vy_ratio: float = SOURCE_VY_RATIO, flag_do_rot: bool = True) -> dict:
  """Source crop as in `Cropper.crop_source_image`: crop_image plus `img_crop_256x256`.

  `lmk` is the detector's 106-point set for a source image (203 points for source video frames).
  """
  out = crop_image(img_rgb, lmk, dsize=dsize, scale=scale, vy_ratio=vy_ratio,
                   flag_do_rot=flag_do_rot)
  out["img_crop_256x256"] = resize_area(out["img_crop"], 256)
  return out


def crop_driving_frames(frames, lmks, dsize: int = 512, scale: float = DRIVING_SCALE,
                        vy_ratio: float = DRIVING_VY_RATIO) -> dict:
  """Driving crop as in `Cropper.crop_driving_video`: one global axis-aligned box for all frames.

  Args:
    frames: sequence of [H, W, 3] uint8 frames.
    lmks: per-frame landmarks [N, 2] (203 points upstream; any supported layout works).

  Returns:
    dict with `bboxes` [T, 4], `bbox` (their mean, [4] float64), `frame_crop_lst`, `lmk_crop_lst`,
    `M_o2c` and `M_c2o` (3x3, shared by all frames).
  """
  bboxes = np.stack([driving_bbox(lmk, scale=scale, vy_ratio=vy_ratio) for lmk in lmks])
  bbox = average_bbox(bboxes)
  crops = [crop_image_by_bbox(f, bbox, lmk=lmk, dsize=dsize) for f, lmk in zip(frames, lmks)]
  return {"bboxes": bboxes, "bbox": bbox,
          "frame_crop_lst": [c["img_crop"] for c in crops],
          "lmk_crop_lst": [c["lmk_crop"] for c in crops],
          "M_o2c": crops[0]["M_o2c"] if crops else None,
          "M_c2o": crops[0]["M_c2o"] if crops else None}

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The JAX warpAffine / resize / paste-back / driving crop against OpenCV, on noise and photos.

Everything here is expected to be bit-exact, so exact equality is asserted; the looser contract of
the callers (>= 99.9% of values within one level) is asserted too, so that a regression reports
how far off it is. Noise images make every sub-pixel or border slip visible, and one test checks
that an unquantised bilinear warp does fail these comparisons.
"""

import glob
import os

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lp_jax import shared
from lp_jax.inference import faces
from lp_jax.ops import cv_resize, cv_warp
from lp_jax.ops import paste_back as device
from lp_jax.preprocess import crop as crop_lib
from lp_jax.preprocess import paste_back as host

PHOTOS = sorted(glob.glob(os.path.join(shared.SHARED_ASSETS, "source", "*.jpg")))


def _photo(index: int) -> np.ndarray:
  if not PHOTOS:
    pytest.fail(f"no photos in {shared.SHARED_ASSETS}/source (put ../shared beside the repo)")
  return cv2.imread(PHOTOS[index % len(PHOTOS)], cv2.IMREAD_COLOR)


def _noise(rng, shape) -> np.ndarray:
  return rng.integers(0, 256, shape, dtype=np.uint8)


def _similarity(rng, src_wh, dst_wh, n: int) -> np.ndarray:
  """n random float32 [2, 3] similarities: any rotation, scale 0.3-3, and a source point between
  -20% and 120% of the source mapped anywhere in the output (so parts fall outside)."""
  out = []
  for _ in range(n):
    angle, scale = rng.uniform(-np.pi, np.pi), rng.uniform(0.3, 3.0)
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    src = np.asarray(src_wh) * rng.uniform(-0.2, 1.2, 2)
    dst = np.asarray(dst_wh) * rng.uniform(0.0, 1.0, 2)
    lin = np.array([[cos, -sin], [sin, cos]])
    out.append(np.concatenate([lin, (dst - lin @ src)[:, None]], axis=1))
  return np.asarray(out, dtype=np.float32)


def _check(got, want, exact: bool = True):
  """Asserts >= 99.9% of values within one level (and equality when exact); returns the stats
  (share equal, share within 1, max difference)."""
  got, want = np.asarray(got).astype(np.int64), np.asarray(want).astype(np.int64)
  assert got.shape == want.shape
  diff = np.abs(got - want)
  stats = (float(np.mean(diff == 0)), float(np.mean(diff <= 1)), int(diff.max(initial=0)))
  assert stats[1] >= 0.999, stats
  if exact:
    assert stats[0] == 1.0, stats
  return stats


def _cv_warp(img, m, dsize):
  return cv2.warpAffine(img, np.asarray(m)[:2], dsize, flags=cv2.INTER_LINEAR)


# ------------------------------------------------------------------------------- warp_affine


@pytest.mark.parametrize("channels", [1, 3])
def test_warp_affine_noise_random_matrices(channels):
  rng = np.random.default_rng(channels)
  shape = (97, 131) if channels == 1 else (97, 131, 3)
  img = _noise(rng, shape)
  dsize = (83, 71)
  ms = _similarity(rng, (131, 97), dsize, 48)
  got = cv_warp.warp_affine(img, ms, dsize)  # one image, a batch of matrices
  want = np.stack([_cv_warp(img, m, dsize) for m in ms])
  _check(got, want)


def test_warp_affine_traced_matrix_matches():
  """One compiled program for every matrix (traced m), still equal to OpenCV: vmapped 2x3
  matrices over one image, and a batch of images with one 3x3 matrix each."""
  rng = np.random.default_rng(7)
  img = _noise(rng, (97, 131, 3))
  imgs = _noise(rng, (16, 97, 131, 3))
  dsize = (83, 71)
  ms = _similarity(rng, (131, 97), dsize, 32)
  ms3 = np.concatenate([ms, np.broadcast_to(np.float32([0, 0, 1]), (32, 1, 3))], axis=1)

  @jax.jit
  def run(img, imgs, ms, ms3):
    return (jax.vmap(lambda m: cv_warp.warp_affine(img, m, dsize))(ms),
            cv_warp.warp_affine(imgs, ms3[:16], dsize))

  one, batch = run(img, imgs, jnp.asarray(ms), jnp.asarray(ms3))
  _check(one, np.stack([_cv_warp(img, m, dsize) for m in ms]))
  _check(batch, np.stack([_cv_warp(i, m, dsize) for i, m in zip(imgs, ms)]))


def test_warp_tables_traced_equal_host_on_many_matrices():
  """The in-program double-float inverse gives OpenCV's float64 row / column terms, including
  matrices whose terms are exact rounding ties and singular ones."""
  rng = np.random.default_rng(11)
  ms = _similarity(rng, (1280, 720), (512, 512), 500)
  special = np.array([np.eye(3)[:2], [[2, 0, 0.5], [0, 2, 0.5]],
                      [[0.5, 0, -0.25], [0, 0.5, 1 / 2048]], [[1, 0, 1 / 2048], [0, 1, 3 / 2048]],
                      [[-1, 0, 99.5], [0, -1, 50.25]], [[0, 1, 0], [1, 0, 0]],
                      [[1, 1, 0], [1, 1, 0]], np.zeros((2, 3))], dtype=np.float32)
  ms = np.concatenate([ms, special])
  dsize = (1280, 720)
  host_tables = cv_warp.warp_tables(ms, dsize)
  traced = jax.jit(lambda m: cv_warp.warp_tables(m, dsize))(jnp.asarray(ms))
  for h, t in zip(host_tables, traced):
    np.testing.assert_array_equal(np.asarray(t), np.asarray(h))


def test_warp_affine_borders_and_subpixel_quantisation_can_fail():
  """A constant white image shows the border weights; tiny sub-pixel shifts show the 1/32 grid.

  An unquantised float bilinear warp (what a naive port would do) must fail the same comparison,
  and so must any other border rule (OpenCV's own BORDER_REPLICATE stands in for one), proving
  that the check sees both effects.
  """
  img = np.full((40, 50, 3), 255, np.uint8)
  img[::3, ::2] = 17  # texture, so that positions matter inside too
  dsize = (70, 60)
  ms = np.array([[[1, 0, 10.3], [0, 1, -5.7]],      # border inside the output, off-grid
                 [[1, 0, 3 + 1 / 96], [0, 1, 2 + 1 / 70]],  # sub-1/32 shifts round to 0
                 [[0.9, 0.3, -4], [-0.3, 0.9, 12]]], dtype=np.float32)
  want = np.stack([_cv_warp(img, m, dsize) for m in ms])
  _check(cv_warp.warp_affine(img, ms, dsize), want)

  def float_bilinear(m):
    inv = cv2.invertAffineTransform(m.astype(np.float64))
    ys, xs = np.mgrid[0:dsize[1], 0:dsize[0]].astype(np.float64)
    sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]

    def tap(y, x):
      ok = ((x >= 0) & (x < img.shape[1]) & (y >= 0) & (y < img.shape[0]))[..., None]
      return np.where(ok, img[np.clip(y, 0, img.shape[0] - 1), np.clip(x, 0, img.shape[1] - 1)],
                      0).astype(np.float64)

    out = ((1 - fy) * ((1 - fx) * tap(y0, x0) + fx * tap(y0, x0 + 1))
           + fy * ((1 - fx) * tap(y0 + 1, x0) + fx * tap(y0 + 1, x0 + 1)))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)

  for m, w in zip(ms, want):
    assert not np.array_equal(float_bilinear(m), w)
    replicate = cv2.warpAffine(img, m, dsize, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
    assert not np.array_equal(replicate, w)


def test_warp_affine_photo_geometries():
  """Real photos: 512 crops out of a 1280x720 frame and back into 1280x720 / 600x704 frames."""
  rng = np.random.default_rng(3)
  frame = cv2.resize(_photo(0), (1280, 720), interpolation=cv2.INTER_AREA)
  ms = _similarity(rng, (1280, 720), (512, 512), 4)
  got = cv_warp.warp_affine(frame, ms, (512, 512))
  _check(got, np.stack([_cv_warp(frame, m, (512, 512)) for m in ms]))
  crop = np.asarray(got[0])
  for dsize in ((1280, 720), (600, 704)):
    ms = _similarity(rng, (512, 512), dsize, 3)
    _check(cv_warp.warp_affine(crop, ms, dsize),
           np.stack([_cv_warp(crop, m, dsize) for m in ms]))


# ------------------------------------------------------------------------------ resize_linear


@pytest.mark.parametrize("src_hw,dsize,channels", [
    ((512, 512), (256, 256), 3), ((720, 1280), (256, 256), 3), ((704, 600), (256, 256), 3),
    ((256, 256), (512, 512), 3), ((61, 37), (200, 101), 1), ((97, 131), (3, 5), 3),
    ((5, 3), (1, 1), 1), ((1, 7), (9, 4), 3), ((333, 215), (215, 333), 1)])
def test_resize_linear_noise(src_hw, dsize, channels):
  rng = np.random.default_rng(sum(src_hw) + sum(dsize))
  img = _noise(rng, src_hw + ((channels,) if channels == 3 else ()))
  _check(cv_resize.resize_linear(img, dsize), cv2.resize(img, dsize, interpolation=cv2.INTER_LINEAR))


def test_resize_linear_photos_and_batch():
  imgs = [_photo(i) for i in range(4)]
  for img in imgs:
    _check(cv_resize.resize_linear(img, (256, 256)),
           cv2.resize(img, (256, 256), interpolation=cv2.INTER_LINEAR))
  batch = np.stack([cv2.resize(i, (300, 200), interpolation=cv2.INTER_AREA) for i in imgs])
  _check(cv_resize.resize_linear(batch, (170, 130)),
         np.stack([cv2.resize(i, (170, 130), interpolation=cv2.INTER_LINEAR) for i in batch]))


# ------------------------------------------------------------------- paste-back / driving crop


def _crop_matrices(rng, frame_hw, n):
  """n (M_o2c, M_c2o) 3x3 float32 pairs of realistic face boxes, as the host crop makes them."""
  height, width = frame_hw
  out = []
  for _ in range(n):
    side = rng.uniform(0.3, 0.9) * min(height, width)
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    bbox = [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]
    angle = rng.uniform(-0.5, 0.5)
    m23 = crop_lib.bbox_transform(bbox, 512, angle=angle, flag_rot=True)
    out.append(crop_lib._homogeneous(m23))  # pylint: disable=protected-access
  return out


@pytest.mark.parametrize("frame_hw", [(720, 1280), (704, 600)])
def test_frame_mask_and_paste_back_match_host(frame_hw):
  rng = np.random.default_rng(frame_hw[1])
  frame = cv2.resize(_photo(2), frame_hw[::-1], interpolation=cv2.INTER_AREA)
  (_, m_c2o), = _crop_matrices(rng, frame_hw, 1)
  crop = cv2.resize(_photo(1), (512, 512), interpolation=cv2.INTER_AREA)
  want_mask = host.frame_mask(m_c2o, frame)
  mask = device.frame_mask(m_c2o, frame_hw[::-1])
  np.testing.assert_array_equal(np.asarray(mask), want_mask)
  _check(device.paste_back(crop, m_c2o, frame, mask),
         host.paste_back(crop, m_c2o, frame, want_mask))


@pytest.mark.slow
def test_paste_back_batched_traced():
  """One program (traced matrices) for a batch: the masks, then paste-backs with a shared frame
  and mask and with one of each per frame. Noise crops and frames make the blend's rounding
  matter on every pixel of the mask's ramp."""
  rng = np.random.default_rng(5)
  frame_hw = (288, 512)
  frames = _noise(rng, (2,) + frame_hw + (3,))
  crops = _noise(rng, (2, 512, 512, 3))
  m_c2o = np.stack([p[1] for p in _crop_matrices(rng, frame_hw, 2)])

  @jax.jit
  def run(crops, m_c2o, frames):
    masks = device.frame_mask(m_c2o, frame_hw[::-1])
    return (masks, device.paste_back(crops, m_c2o[0], frames[0], masks[0]),
            device.paste_back(crops, m_c2o, frames, masks))

  masks, shared_out, own = run(crops, jnp.asarray(m_c2o), frames)
  host_masks = [host.frame_mask(m, frames[0]) for m in m_c2o]
  np.testing.assert_array_equal(np.asarray(masks), np.stack(host_masks))
  for i in range(2):
    _check(shared_out[i], host.paste_back(crops[i], m_c2o[0], frames[0], host_masks[0]))
    _check(own[i], host.paste_back(crops[i], m_c2o[i], frames[i], host_masks[i]))


def test_blend_rounding_matches_numpy_exhaustively():
  """Every (mask level, warped, frame) triple of the blend, against NumPy's float32 arithmetic."""
  levels = np.arange(256, dtype=np.float32) / np.float32(255.0)
  values = np.arange(256, dtype=np.uint8)
  mask = np.broadcast_to(levels[:, None, None], (256, 256, 256))
  warped = np.broadcast_to(values[None, :, None], (256, 256, 256))
  frame = np.broadcast_to(values[None, None, :], (256, 256, 256))
  want = np.clip(mask * warped + (1 - mask) * frame, 0, 255).astype(np.uint8)
  np.testing.assert_array_equal(np.asarray(jax.jit(device.blend)(mask, warped, frame)), want)


@pytest.mark.parametrize("frame_hw", [(720, 1280), (704, 600)])
def test_driving_crop_matches_host(frame_hw):
  rng = np.random.default_rng(frame_hw[0])
  frame = cv2.resize(_photo(3), frame_hw[::-1], interpolation=cv2.INTER_AREA)
  height, width = frame_hw
  side = 0.6 * min(height, width)
  box = np.array([width / 2 - side / 2 + 13.37, height / 2 - side / 2 - 7.1,
                  width / 2 + side / 2 + 13.37, height / 2 + side / 2 - 7.1])
  want = faces.crop_driving(frame, box)
  m_o2c = crop_lib.crop_image_by_bbox(frame, box, dsize=512)["M_o2c"]
  _check(device.driving_crop(frame, m_o2c), want)
  if frame_hw != (720, 1280):
    return
  # A batch of frames under one traced matrix, as a video is cropped.
  frames = np.stack([frame, _noise(rng, frame.shape)])
  got = jax.jit(device.driving_crop)(frames, jnp.asarray(m_o2c))
  _check(got, np.stack([faces.crop_driving(f, box) for f in frames]))


@pytest.mark.slow
def test_warp_affine_sweep():
  """Many random sizes, channel counts and matrices (each size compiles once)."""
  rng = np.random.default_rng(2026)
  for case in range(12):
    channels = (1, 3)[case % 2]
    src_h, src_w = (int(v) for v in rng.integers(2, 400, 2))
    dsize = tuple(int(v) for v in rng.integers(1, 400, 2))
    img = _noise(rng, (src_h, src_w) + ((channels,) if channels == 3 else ()))
    if case % 3 == 0:
      img = cv2.resize(_photo(case), (src_w, src_h), interpolation=cv2.INTER_AREA)
      img = img if channels == 3 else img[..., 0].copy()
    ms = _similarity(rng, (src_w, src_h), dsize, 16)
    _check(cv_warp.warp_affine(img, ms, dsize), np.stack([_cv_warp(img, m, dsize) for m in ms]))

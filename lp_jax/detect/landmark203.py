# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""LivePortrait's 203-point landmark model (`pretrained_weights/liveportrait/landmark.onnx`).

Mirrors the official `LandmarkRunner.run` (src/utils/human_landmark_runner.py):

* with prior landmarks (the 106 detector points for a first frame, the previous frame's 203 points
  while tracking), the input is `crop_image(img_rgb, lmk, dsize=224, scale=1.5, vy_ratio=-0.1)`
  with rotation, i.e. an upright similarity crop around the face;
* without them, the whole image is resized to 224x224 and mapped back with one isotropic scale
  max(h, w) / 224 (the official "not recommended" path, kept for completeness; the pipelines never
  take it);
* input name 'input', [1, 3, 224, 224] float32 RGB / 255 (no mean or std);
* the third output holds 203 (x, y) pairs normalised to the crop; they are multiplied by 224 and
  mapped back to the image with the crop's inverse affine.
"""

from typing import Callable, Iterable, Optional, Sequence

import cv2
import numpy as np

from lp_jax.detect import scrfd
from lp_jax.errors import InputError
from lp_jax.preprocess import crop as crop_lib

DSIZE = 224
CROP_SCALE = 1.5
CROP_VY_RATIO = -0.1

# crop_fn(img, pts, dsize=, scale=, vx_ratio=, vy_ratio=, flag_do_rot=) -> dict with at least
# 'img_crop' [dsize, dsize, 3] and 'M_c2o' (3x3 crop -> image affine).
CropFn = Callable[..., dict]


class Landmark203:
  """203-point landmarks from LivePortrait's landmark.onnx over an onnxruntime session."""

  def __init__(self, model: scrfd.ModelSource, providers: Optional[Sequence[str]] = None,
               backend: str = "onnxruntime", device=None,
               crop_fn: Optional[CropFn] = None, dsize: int = DSIZE):
    """Opens the model.

    Args:
      model: path to landmark.onnx (or the serialized model).
      providers: onnxruntime providers (default CPU).
      backend, device: see `scrfd.make_session`.
      crop_fn: landmark crop; defaults to lp_jax.preprocess.crop.crop_image (official geometry).
      dsize: crop side (224 for the official model).
    """
    self.session = scrfd.make_session(model, providers, backend, device)
    self.crop_fn = crop_fn or crop_lib.crop_image
    self.dsize = int(dsize)
    self.input_name = "input"  # the official runner feeds by this fixed name
    self.output_names = [o.name for o in self.session.get_outputs()]
    if len(self.output_names) < 3:
      raise InputError(f"landmark.onnx should have at least 3 outputs (the third holds the "
                       f"203 points), found {len(self.output_names)}")

  def preprocess(self, img_rgb: np.ndarray,
                 lmk: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """(network input [1, 3, dsize, dsize] float32, crop->image affine M_c2o [3, 3])."""
    if lmk is not None:
      crop = self.crop_fn(img_rgb, lmk, dsize=self.dsize, scale=CROP_SCALE, vx_ratio=0.0,
                          vy_ratio=CROP_VY_RATIO, flag_do_rot=True)
      img_crop, m_c2o = crop["img_crop"], crop["M_c2o"]
    else:
      img_crop = cv2.resize(img_rgb, (self.dsize, self.dsize))
      scale = max(img_rgb.shape[:2]) / self.dsize
      m_c2o = np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    inp = (img_crop.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(inp), m_c2o

  def postprocess(self, points: np.ndarray, m_c2o: np.ndarray) -> np.ndarray:
    """[P, 2] image pixels from the third output's normalised crop coordinates."""
    lmk = np.asarray(points)[0].reshape(-1, 2) * self.dsize
    return crop_lib.transform_pts(lmk, m_c2o)

  def run(self, img_rgb: np.ndarray, lmk: Optional[np.ndarray] = None) -> np.ndarray:
    """[203, 2] landmarks in image pixels.

    Args:
      img_rgb: [h, w, 3] uint8 RGB image.
      lmk: prior landmarks [N, 2] (106 or 203 points) that place the crop; None resizes the
        whole image instead.
    """
    inp, m_c2o = self.preprocess(img_rgb, lmk)
    outputs = self.session.run(self.output_names, {self.input_name: inp})
    return self.postprocess(outputs[2], m_c2o)

  def track(self, frames: Iterable[np.ndarray], lmk_init: np.ndarray) -> np.ndarray:
    """[T, 203, 2] landmarks over frames, each crop placed by the previous frame's result.

    Like the official video croppers there is no re-detection or drift check: frame 0 is seeded
    with `lmk_init` (the 106 detector points, or 203 points), every later frame with the 203
    points found in the frame before it.
    """
    lmk = np.asarray(lmk_init)
    out = []
    for frame in frames:
      lmk = self.run(frame, lmk)
      out.append(lmk)
    if not out:
      return np.zeros((0, 203, 2), dtype=np.float32)
    return np.stack(out)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The one image resize of training, evaluation and the auxiliary networks."""

import jax


def resize(images: jax.Array, size, antialias: bool = True) -> jax.Array:
  """Bilinear resize of NHWC images to `size` (an int for a square, or (h, w)).

  Half-pixel centres (align_corners=False): with `antialias=False` this is
  `F.interpolate(mode='bilinear', align_corners=False)`; with True it low-pass filters when
  shrinking, closer to the PIL / OpenCV-area resizes the auxiliary estimators were trained
  behind and free of aliasing when 512-pixel renders shrink to 256 or 112. Images already at
  `size` come back unchanged (no resampling round trip, so no numerical change).
  """
  h, w = (size, size) if isinstance(size, int) else tuple(size)
  if tuple(images.shape[1:3]) == (h, w):
    return images
  return jax.image.resize(images, (images.shape[0], h, w, images.shape[3]), "bilinear",
                          antialias=antialias)

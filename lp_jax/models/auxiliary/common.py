# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Input handling shared by the auxiliary networks (resizing to the size they were trained at)."""

import jax


def resize_square(x: jax.Array, size: int, antialias: bool = True) -> jax.Array:
  """Bilinear resize of NHWC images to size x size (half-pixel centres, align_corners=False).

  With `antialias=False` this is `F.interpolate(mode='bilinear', align_corners=False)`; with
  True it low-pass filters when shrinking (closer to the PIL / OpenCV-area resizes the
  estimators were trained behind, and no aliasing of 512-pixel crops down to 112). An input
  already at `size` is returned unchanged.
  """
  b, h, w, c = x.shape
  if (h, w) == (size, size):
    return x
  return jax.image.resize(x, (b, size, size, c), "bilinear", antialias=antialias)

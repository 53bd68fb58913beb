# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The LivePortrait networks replaced by instant functions of the same shapes, to measure what
the pipeline costs around them (`python -m lp_jax.bench_e2e --null_networks`).

Each null network returns outputs of exactly the shapes and dtypes its real module would (found by
`jax.eval_shape` of the module, so any model config works), computed elementwise from one number
per frame: the mean of a sample of its first input. Motion therefore follows the driving crops, keypoints
move, and the generator's frames change from frame to frame with a texture, as real renders do,
so the video encoder does not see a still image (which it would encode far faster than a face).
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from lp_jax import weights
from lp_jax.inference.networks import LivePortraitModels
from lp_jax.models import liveportrait
from lp_jax.models import variants as model_configs


_SAMPLE = 4096  # input values per frame the output is computed from
_SPREAD_MAX = 4096  # per-frame size up to which an output gets distinct values (keypoints, heads)


@dataclasses.dataclass(frozen=True)
class NullNetwork:
  """`apply(variables, *inputs)` of `module`'s output shapes, without its layers."""
  module: nn.Module

  def apply(self, variables, *inputs):
    del variables
    shapes = jax.eval_shape(
        lambda *x: self.module.init_with_output(jax.random.key(0), *x)[0], *inputs)
    flat = inputs[0].reshape(inputs[0].shape[0], -1)
    # A strided sample of the input: reading all of a feature volume would cost real time.
    step = max(1, flat.shape[1] // _SAMPLE)
    per_frame = jnp.mean(flat[:, ::step].astype(jnp.float32), axis=1)
    return jax.tree.map(lambda s: _fill(s, per_frame), shapes)


def _fill(shape: jax.ShapeDtypeStruct, per_frame: jax.Array) -> jax.Array:
  """A [B, ...] output from one number per frame: a moving texture for images, else a fixed
  spread of values (keypoints must not coincide: the motion multiplier divides by their hull's
  volume) shifted by it."""
  b, rest = shape.shape[0], shape.shape[1:]
  signal = per_frame.reshape((b,) + (1,) * len(rest))
  if len(rest) == 3 and rest[-1] == 3:  # an image [B, H, W, 3] in [0, 1]
    h, w = rest[:2]
    y = jnp.arange(h, dtype=jnp.float32)[:, None, None]
    x = jnp.arange(w, dtype=jnp.float32)[None, :, None]
    texture = (x * 0.031 + y * 0.017 + jnp.arange(3, dtype=jnp.float32) * 0.25) % 1.0
    return ((texture + signal) % 1.0).astype(shape.dtype)
  if math.prod(rest) > _SPREAD_MAX:  # feature volumes: one value per frame is enough
    return jnp.broadcast_to(0.01 * signal, shape.shape).astype(shape.dtype)
  spread = jnp.sin(jnp.arange(math.prod(rest), dtype=jnp.float32) * 1.7).reshape(rest)
  return (0.1 * spread + 0.01 * signal).astype(shape.dtype)


class NullModels(LivePortraitModels):
  """LivePortraitModels of `model_config`'s shapes whose networks are NullNetworks."""

  def __init__(self, model_config: str = "official"):  # pylint: disable=super-init-not-called
    self.config = model_configs.get_config(model_config)
    self.input_sizes = dict(weights.OFFICIAL_INPUT_SIZES)
    self.nets = {name: NullNetwork(liveportrait.build(name, self.config))
                 for name in liveportrait.NETWORKS}
    self.variables = {name: {} for name in liveportrait.NETWORKS}

  def generator_chunk(self) -> None:
    """The whole batch at once: frame-by-frame mapping pays off for a real generator's
    activations, and would only add copies here."""
    return None

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Rematerialisation of the largest training blocks (`config.remat`).

Stage I keeps every activation of W's hourglass (3-D volumes of up to 16x64x64x128 per sample)
and of G's SPADE residual blocks (64x64 to 256x256 maps with 512 channels and a 128-channel
SPADE MLP each) for the backward pass; they dominate a training step's temp memory. Policies:

- 'none': keep them (fastest when the batch fits);
- 'blocks': `jax.checkpoint` each hourglass down / up block and each SPADE residual block with
  nothing saved inside; the block's inputs are kept and the block recomputed in the backward
  pass (about one more forward of W's hourglass and of G, in exchange for their activations).

The policy is part of a network's compiled form (`KernelForms.remat_blocks`), so it reaches
every block the way the layer forms do; values and gradients are unchanged.
"""

import functools

import flax.linen as nn
import jax

POLICIES = ("none", "blocks")


def check(policy: str) -> str:
  if policy not in POLICIES:
    raise ValueError(f"remat policy {policy!r} is not one of {POLICIES}")
  return policy


@functools.lru_cache(maxsize=None)
def _rematted(cls, train_argnum: int):
  # `train` is a Python bool that selects BatchNorm's statistics: static under jax.checkpoint.
  return nn.remat(cls, policy=jax.checkpoint_policies.nothing_saveable,
                  static_argnums=(train_argnum,))


def block(cls, forms, train_argnum: int):
  """`cls`, recomputed in the backward pass when `forms.remat_blocks`.

  `train_argnum`: the position of __call__'s `train` argument, counting `self` as 0.
  """
  return _rematted(cls, train_argnum) if forms.remat_blocks else cls

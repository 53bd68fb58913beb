# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Compute precision of the networks at inference (the official `--flag_use_half_precision`).

The official pipeline runs F, M, W and G under `torch.autocast(dtype=torch.float16)` on CUDA
when `flag_use_half_precision` is on (the default). Here the same flag picks float16 on CUDA,
bfloat16 on TPU (no fast float16 there) and float32 on CPU, where half precision is slower
(no half-precision matrix units) and only loses accuracy; `--precision` forces one anywhere.
Parameters stay float32 (Flax casts them per layer), and keypoint math, stitching /
retargeting MLPs, softmax / sigmoid heads and grid-sample coordinates stay float32: the
networks' outputs are cast back to float32 at the wrapper boundary (lp_jax.inference.networks).
"""

import jax.numpy as jnp

from lp_jax.errors import InputError

DTYPES = {"fp32": jnp.float32, "bf16": jnp.bfloat16, "fp16": jnp.float16}
HALF = {"cuda": "fp16", "gpu": "fp16", "rocm": "fp16", "tpu": "bf16"}


def resolve(precision: str | None, use_half_precision: bool, backend: str) -> str:
  """'fp32' | 'bf16' | 'fp16' for an explicit `precision`, else the flag on `backend`."""
  if precision:
    if precision not in DTYPES:
      raise InputError(f"--precision {precision!r}: expected one of {', '.join(DTYPES)}")
    return precision
  return HALF.get(backend, "fp32") if use_half_precision else "fp32"


def dtype(name: str):
  return DTYPES[name]

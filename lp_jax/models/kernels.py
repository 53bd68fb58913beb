# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Which form each rewritten layer takes on each backend (XLA:CPU, GPU, TPU).

Several layers have two exact forms (equal up to float summation order, same variables): the
plain one (what the official PyTorch code does) and a rewrite that XLA:CPU ran faster. The
rewrites were chosen by CPU timings; on GPU and TPU they were re-chosen from the compiled
programs' FLOPs, bytes, temp memory and roofline time (`python -m lp_jax.aot.kernels`, README
"Kernel forms per backend"). CPU keeps exactly its measured choices, so CPU numerics do not
change.

The forms are a property of a whole network compiled for one backend: `liveportrait.build`
puts them on the top-level network (field `kernels`), and a layer reads them with `forms_of`,
which walks up its parents, instead of every container in between forwarding them.
"""

import dataclasses

import flax.linen as nn


@dataclasses.dataclass(frozen=True)
class KernelForms:
  """One field per choice; the defaults are the CPU choices (measured on XLA:CPU)."""
  # Conv3d (k > 1): one 2-D conv over depth slices with the depth taps stacked as outputs, from
  # this H * W up; None: the direct 3-D conv everywhere.
  conv3d_fold_min_hw: int | None = 256
  # Inside the depth fold: zero channels up to GEMM widths (8 in, 16 out).
  conv3d_fold_pad: bool = True
  # UpBlock3d: nearest 2x + Conv3d as four phase convs on the input, from this input H * W;
  # None: upsample, then Conv3d.
  upblock3d_phase_min_hw: int | None = 64
  # The phase Conv3d of UpBlock3d is depth-folded from this input H * W (None: direct).
  phase3d_fold_min_hw: int | None = 64
  # SPADE's shared MLP conv after a nearest upsample of the segmentation map: phase convs.
  upsample2d_phase: bool = True
  # Occlusion head (2272 -> 1, 7x7): one GEMM to the per-tap outputs + shifted sums.
  occlusion_taps: bool = True
  # ConvNeXt depthwise 7x7: shifted multiply-adds instead of a grouped convolution.
  depthwise_stencil: bool = True
  # Frames per generator pass inside a W+G batch (a lax.map); None: the whole batch at once.
  generator_chunk: int | None = 1


CPU = KernelForms()
# GPU and TPU: to be chosen from the AOT figures; until then the CPU forms run everywhere.
GPU = CPU
TPU = CPU

_BY_PLATFORM = {"cpu": CPU, "gpu": GPU, "cuda": GPU, "rocm": GPU, "tpu": TPU}


def for_platform(platform: str) -> KernelForms:
  """The forms for a JAX platform name ('cpu', 'gpu' / 'cuda' / 'rocm', 'tpu')."""
  if platform not in _BY_PLATFORM:
    raise ValueError(f"no kernel forms for platform {platform!r}; known: {sorted(_BY_PLATFORM)}")
  return _BY_PLATFORM[platform]


def forms_of(module: nn.Module) -> KernelForms:
  """The `kernels` of the nearest enclosing module that has one (CPU's when none has).

  A layer used on its own (tests, benchmarks of one layer) gets the CPU forms, today's code.
  """
  m = module
  while isinstance(m, nn.Module):
    forms = getattr(m, "kernels", None)
    if forms is not None:
      return forms
    m = m.parent
  return CPU

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Which form each rewritten layer takes on each backend (XLA:CPU, GPU, TPU).

Several layers have two exact forms (equal up to float summation order, same variables): the
plain one (what the official PyTorch code does) and a rewrite that XLA:CPU ran faster. The
rewrites were chosen by CPU timings; on GPU and TPU they were re-chosen from the compiled
programs' FLOPs, bytes, temp memory and roofline time (`python -m lp_jax.aot.kernels`,
docs/aot.md "Kernel forms per backend"). CPU keeps exactly its measured choices, so CPU
numerics do not change.

The forms are a property of a whole network compiled for one backend. `liveportrait.build`
takes the platform and sets the network's `forms` field; every block hands its `forms` to the
blocks and convs it builds, and `util.conv` picks each conv's algorithm from them. A network
or layer built without forms takes those of the backend this process runs on (`default`).
"""

import dataclasses

import jax


@dataclasses.dataclass(frozen=True)
class KernelForms:
  """One field per choice; the defaults are the CPU choices (measured on XLA:CPU)."""
  # Conv3d (k > 1): one 2-D conv over depth slices with the depth taps stacked as outputs, from
  # this H * W up; None: the direct 3-D conv everywhere.
  conv3d_fold_min_hw: int | None = 256
  # ... and only for Conv3d with at most this many output channels (None: any). The fold stacks
  # the depth taps as outputs: narrow outputs fill more of a 128-wide matrix unit.
  conv3d_fold_max_out: int | None = None
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
  # 3x3 Conv2d (stride 1, pad 1, >= 64 channels in and out) on maps up to this H * W, float32:
  # Winograd F(4x4, 3x3) (models/winograd.py, 4x fewer multiply-adds); None: never.
  winograd_max_hw: int | None = 256 * 256
  # Conv3d 3x3x3 (pad 1, >= 64 channels in and out) from this H * W, float32: Winograd over H
  # and W with the depth taps summed in the transformed domain; None: never.
  winograd3d_min_hw: int | None = 64 * 64
  # Conv3d with kernels from this size up (the 7x7x7 mask), float32: FFTs over H and W
  # (models/fft_conv.py, 9x fewer multiply-adds); None: never.
  fft_conv3d_min_kernel: int | None = 7
  # Frames per generator pass inside a W+G batch (a lax.map); None: the whole batch at once.
  generator_chunk: int | None = 1
  # Dense motion: sample the compressed volume at the K+1 shifted identity grids as three
  # einsums with per-axis interpolation matrices (ops/grid_sample.separable_grid_sample)
  # instead of one gather per corner. Off on CPU: W forward took the same time either way
  # (docs/performance.md), so its numerics stay the gather's.
  separable_sparse_motion: bool = False
  # Paste-back (and the driving crop) as jitted ops after G on the device, so that only final
  # uint8 frames cross to the host (ops/paste_back.py); off: OpenCV on the host. Off on CPU,
  # where the device is the host and OpenCV's prepared paste-back ran faster (docs/performance.md).
  frame_ops_on_device: bool = False
  # W's final warp of the feature volume by the dense deformation (one gather per corner): one
  # gather per frame from that frame's volume instead of one over the batch; the same values.
  # TPU's cost model charges a batched gather with the square of the batch: W in bf16 at batch 8
  # on a v5e moved 36.6 GB per frame with one gather, 4.64 GB with gathers per frame (6.58 GB
  # either way at batch 1; docs/aot.md).
  warp_gather_per_frame: bool = False
  # How many devices a program splits its batch over, in equal blocks (training on a mesh, W+G
  # over several devices): per-frame gathers then take frame j of every block at once, so each
  # device gathers its own frames (`over_sharded_batch`). 1: the batch is on one device.
  batch_shards: int = 1
  # Training only (config.remat, models/remat.py): W's hourglass blocks and G's SPADE residual
  # blocks recomputed in the backward pass instead of keeping their activations.
  remat_blocks: bool = False


CPU = KernelForms()
# GPU: chosen from the H100 target's figures (docs/aot.md "Kernel forms per backend"), fp32 and
# fp16.
# The depth fold, its padding and the taps head only add bytes and temp memory there (the
# direct convs win at every measured size); the UpBlock3d phase convs halve the FLOPs from 16x16
# inputs up (at 8x8 they lose); the depthwise stencil reads half the grouped conv's bytes; the
# whole generator batch beats a frame-by-frame map. The separable sparse motions lose there
# (the sampling alone: 142 against 116 us summed; W compute-bound either way).
GPU = KernelForms(conv3d_fold_min_hw=None, conv3d_fold_pad=False, upblock3d_phase_min_hw=256,
                  phase3d_fold_min_hw=None, upsample2d_phase=True, occlusion_taps=False,
                  depthwise_stencil=True, generator_chunk=None, winograd_max_hw=None,
                  winograd3d_min_hw=None, fft_conv3d_min_kernel=None,
                  separable_sparse_motion=False, frame_ops_on_device=True)
# TPU: chosen from the v5e target's figures, fp32 and bf16, ranked by XLA:TPU's own estimate of
# each program's time (the sum of its per-instruction cycles, aot/hlo.tpu_cost_model), not the
# roofline: the roofline counts FLOPs at the matrix units' peak whatever the shapes leave of
# them, and bytes as if every layout were free. By the estimate (batch 1, bf16 + fp32 summed):
# the depth fold wins for narrow outputs at 64x64 (W's 7x7x7 mask to 22 channels 3.5x, F's
# 32-wide blocks 1.3x forward; wider outputs lose), and so does its channel padding (the mask
# 4.6x); the UpBlock3d phase convs win from 8x8 inputs (2x summed), their depth fold loses;
# SPADE's phase convs and ConvNeXt's depthwise stencil lose (1.26x, 1.38x); the taps head wins
# 41x and the separable sparse motions 64x. The generator map is unmeasured on TPU: the whole
# batch.
# The fold's width cap is 22 (the mask alone), under the rule's 32, from the whole Stage I step
# (v5e 2x2, bf16, batch 8): folding F's 32-wide blocks too made F's forward + backward 20%
# slower there (126 -> 152 ms per step); alone, such a conv wins forward (4.2 against 5.3 ms at
# batch 8) and loses forward + backward (9.8 against 9.0 ms).
TPU = KernelForms(conv3d_fold_min_hw=64 * 64, conv3d_fold_max_out=22, conv3d_fold_pad=True,
                  upblock3d_phase_min_hw=64, phase3d_fold_min_hw=None, upsample2d_phase=False,
                  occlusion_taps=True, depthwise_stencil=False, generator_chunk=None,
                  winograd_max_hw=None, winograd3d_min_hw=None, fft_conv3d_min_kernel=None,
                  separable_sparse_motion=True, frame_ops_on_device=True,
                  warp_gather_per_frame=True)

_BY_PLATFORM = {"cpu": CPU, "gpu": GPU, "cuda": GPU, "rocm": GPU, "tpu": TPU}


def for_platform(platform: str) -> KernelForms:
  """The forms for a JAX platform name ('cpu', 'gpu' / 'cuda' / 'rocm', 'tpu')."""
  if platform not in _BY_PLATFORM:
    raise ValueError(f"no kernel forms for platform {platform!r}; known: {sorted(_BY_PLATFORM)}")
  return _BY_PLATFORM[platform]


def over_sharded_batch(forms: KernelForms, shards: int) -> KernelForms:
  """`forms` for a program whose batch is split over `shards` devices in equal blocks
  (training on a mesh, W+G over several local devices). A slice of one frame from such a batch
  lives on one device, so gathers per frame of the whole batch made XLA move every frame (408
  collective-permutes in the v5e 2x2 Stage I step at 8 samples a chip); gathers per position
  within the blocks keep each frame on its device."""
  if shards < 1:
    raise ValueError(f"batch split over {shards} devices")
  return dataclasses.replace(forms, batch_shards=shards)


def default() -> KernelForms:
  """The forms of the backend this process runs on (jax.default_backend())."""
  return for_platform(jax.default_backend())


def forms_field():
  """A module field for the forms: set by the parent; unset, the running backend's (`default`).

  The default keeps a layer or network built on its own (a test, a one-layer benchmark) on the
  forms of the backend it runs on; networks built for a platform set it at the top and every
  block passes its own down.
  """
  return dataclasses.field(default_factory=default)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Named compile targets (TPU slices, GPU hosts), the chip table, and their compile-only devices.

A target is a topology that `jax.experimental.topologies.get_topology_desc` turns into
compile-only devices on this (CPU) machine: libtpu (`pip install -e .[tpu]`) for TPUs, the CUDA
PJRT plugin (`pip install -e .[gpu-aot]`) and a GpuTargetConfigProto text (gpu_targets/*.txtpb)
for GPUs. Nothing runs on them; `jit(...).lower(...).compile()` plans the program for them.

The chip table holds what a roofline needs, per chip and dense (no sparsity), from the vendors'
published specifications:
  - TPU v4 / v5e / v5p: Cloud TPU system-architecture pages (bf16 peak, HBM capacity and
    bandwidth, inter-chip interconnect). TPUs have no fp16 matrix path (None). For float32
    programs the MXU runs one bf16 pass at JAX's default matmul precision, so fp32 = the bf16
    rate (`precision=HIGHEST` would be ~6x slower).
  - H100 SXM5, H200 SXM, A100 SXM4 80 GB: NVIDIA datasheets (dense tensor-core bf16 / fp16;
    for float32 programs XLA's default precision on Ampere and later uses TF32 tensor cores,
    so fp32 = the TF32 rate). NVLink is the per-GPU bandwidth in one direction.
  - RTX 4090: the Ada Lovelace whitepaper (AD102, 128 SMs, sm_89, 24 GB GDDR6X, 1008 GB/s;
    fp16 / bf16 tensor 165.2 TFLOP/s with fp32 accumulate, TF32 82.6; no NVLink: PCIe 4.0 x16).
"""

import dataclasses
import importlib.util
import os

from lp_jax.errors import UserError, first_line

GPU_TARGET_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu_targets")
TPU_PIP = "pip install -e '.[tpu]'  (jax[tpu] at the installed jax version: libtpu)"
GPU_PIP = "pip install -e '.[gpu-aot]'  (jax-cuda12-plugin and jax-cuda12-pjrt)"


class AotError(UserError):
  """A user-facing error: printed as one line, exit status 1."""


@dataclasses.dataclass(frozen=True)
class Chip:
  name: str
  memory_bytes: int  # HBM / device memory per chip (device)
  hbm_bytes_per_s: float  # memory bandwidth
  flops: dict  # dense peak FLOP/s per compute dtype: 'bf16', 'fp16', 'fp32' (None: no such path)
  interconnect_bytes_per_s: float | None  # per chip, one direction (ICI / NVLink / PCIe)
  # TPU: the core clock, to turn XLA:TPU's per-instruction cycle estimates into seconds
  # (hlo.tpu_cost_model). The bf16 peak over the matrix units' multiply-adds per cycle (128x128
  # each, 2 FLOPs): v4 and v5p 2 cores x 4 MXUs, v5e 1 core x 4 MXUs.
  clock_hz: float | None = None


GiB = 2 ** 30
CHIPS = {
    "tpu_v4": Chip("TPU v4", 32 * GiB, 1200e9, {"bf16": 275e12, "fp16": None, "fp32": 275e12},
                   None, 275e12 / (8 * 128 * 128 * 2)),  # the v4 page gives no per-chip ICI figure
    "tpu_v5e": Chip("TPU v5e", 16 * GiB, 819e9, {"bf16": 197e12, "fp16": None, "fp32": 197e12},
                    200e9, 197e12 / (4 * 128 * 128 * 2)),  # ICI 1600 Gbps = 400 GB/s bidirectional
    "tpu_v5p": Chip("TPU v5p", 95 * GiB, 2765e9, {"bf16": 459e12, "fp16": None, "fp32": 459e12},
                    300e9, 459e12 / (8 * 128 * 128 * 2)),  # ICI 4800 Gbps = 600 GB/s bidirectional
    "h100": Chip("H100 SXM5 80GB", 80 * GiB, 3.35e12,
                 {"bf16": 989.4e12, "fp16": 989.4e12, "fp32": 494.7e12}, 450e9),
    "h200": Chip("H200 SXM 141GB", 141 * 10 ** 9, 4.8e12,
                 {"bf16": 989.4e12, "fp16": 989.4e12, "fp32": 494.7e12}, 450e9),
    "a100": Chip("A100 SXM4 80GB", 80 * GiB, 2.039e12,
                 {"bf16": 312e12, "fp16": 312e12, "fp32": 156e12}, 300e9),
    "rtx4090": Chip("GeForce RTX 4090", 24 * GiB, 1008e9,
                    {"bf16": 165.2e12, "fp16": 165.2e12, "fp32": 82.6e12}, 32e9),
}


@dataclasses.dataclass(frozen=True)
class Target:
  name: str
  platform: str  # 'tpu' | 'cuda'
  chip: str  # key of CHIPS
  topology: str  # TPU 'v5e:16x16' / GPU 'slices x hosts x devices per host'
  use: str  # what the target is listed for: 'train' | 'infer' | 'test'
  chip_config: str = "default"  # TPU: 'megacore' fuses a v4 / v5p chip's two cores
  num_slices: int = 1
  host_bounds: tuple = (2, 2, 1)  # TPU chips per host
  gpu_config: str = ""  # GPU: gpu_targets/<name>.txtpb

  @property
  def num_devices(self) -> int:
    dims = [int(d) for d in self.topology.split(":")[-1].split("x")]
    n = 1
    for d in dims:
      n *= d
    return n * (self.num_slices if self.platform == "tpu" else 1)


TARGETS = {t.name: t for t in (
    # Training: TPU slices (v4-8 / v5p-128 count TensorCores: 2 per megacore chip) and GPU hosts.
    Target("v4-8", "tpu", "tpu_v4", "v4:2x2x1", "train", chip_config="megacore"),
    Target("v5e-8", "tpu", "tpu_v5e", "v5e:2x4", "train", host_bounds=(2, 4, 1)),
    Target("v5e-256", "tpu", "tpu_v5e", "v5e:16x16", "train"),
    Target("v5p-128", "tpu", "tpu_v5p", "v5:4x4x4", "train", chip_config="megacore"),
    Target("2xv5e-256", "tpu", "tpu_v5e", "v5e:16x16", "train", num_slices=2),
    Target("8xH100", "cuda", "h100", "1x1x8", "train", gpu_config="h100_sxm"),
    Target("8xA100", "cuda", "a100", "1x1x8", "train", gpu_config="a100_sxm_80"),
    # Inference: one GPU.
    Target("H100", "cuda", "h100", "1x1x1", "infer", gpu_config="h100_sxm"),
    Target("H200", "cuda", "h200", "1x1x1", "infer", gpu_config="h200"),
    Target("A100", "cuda", "a100", "1x1x1", "infer", gpu_config="a100_sxm_80"),
    Target("RTX4090", "cuda", "rtx4090", "1x1x1", "infer", gpu_config="rtx4090"),
    # Small topologies that compile in seconds (make test) and single chips.
    Target("v5e-4", "tpu", "tpu_v5e", "v5e:2x2", "test"),
    Target("v5e-1", "tpu", "tpu_v5e", "v5e:1x1", "test", host_bounds=(1, 1, 1)),
    Target("2xH100", "cuda", "h100", "1x1x2", "test", gpu_config="h100_sxm"),
)}


def get_target(name: str) -> Target:
  if name not in TARGETS:
    raise AotError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}")
  return TARGETS[name]


def target_table() -> str:
  """One line per target (for --list_targets and the README)."""
  lines = []
  for t in TARGETS.values():
    chip = CHIPS[t.chip]
    lines.append(f"{t.name:10s} {t.use:6s} {t.num_devices:4d} x {chip.name} ({t.topology}"
                 f"{f', {t.num_slices} slices' if t.num_slices > 1 else ''})")
  return "\n".join(lines)


def has_module(name: str) -> bool:
  """Whether `name` is importable (an installed extra), without importing it."""
  try:
    return importlib.util.find_spec(name) is not None
  except (ImportError, ValueError, AttributeError):
    return False


def _libtpu_version() -> str:
  try:
    from importlib import metadata  # pylint: disable=g-import-not-at-top
    return metadata.version("libtpu")
  except Exception:  # pylint: disable=broad-except
    return "unknown"


def gpu_target_config(name: str) -> str:
  """The GpuTargetConfigProto text of gpu_targets/<name>.txtpb."""
  path = os.path.join(GPU_TARGET_DIR, f"{name}.txtpb")
  with open(path) as f:
    return f.read()


def devices(target: Target) -> list:
  """Compile-only devices of `target` (needs the matching extra; nothing is allocated)."""
  from jax.experimental import topologies  # pylint: disable=g-import-not-at-top
  if target.platform == "tpu":
    # Compile only: no TPU is claimed, so other processes may hold libtpu too (without this,
    # a second process fails on libtpu's lockfile).
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    if not has_module("libtpu"):
      raise AotError(f"target {target.name} needs libtpu: {TPU_PIP}")
    try:
      topo = topologies.get_topology_desc(
          platform="tpu", topology_name=target.topology, chip_config_name=target.chip_config,
          chips_per_host_bounds=target.host_bounds, num_slices=target.num_slices)
    except Exception as e:  # pylint: disable=broad-except
      raise AotError(f"libtpu {_libtpu_version()} does not know topology {target.topology!r} "
                     f"(chip config {target.chip_config}): {first_line(e)}") from None
  else:
    if not has_module("jax_plugins.xla_cuda12"):
      raise AotError(f"target {target.name} needs the CUDA compiler plugin: {GPU_PIP}")
    try:
      topo = topologies.get_topology_desc(platform="cuda", topology=target.topology,
                                          target_config=gpu_target_config(target.gpu_config))
    except Exception as e:  # pylint: disable=broad-except
      raise AotError(f"the CUDA plugin rejected target {target.name} "
                     f"({target.gpu_config}.txtpb): {first_line(e)}") from None
  devs = list(topo.devices)
  if len(devs) != target.num_devices:
    raise AotError(f"target {target.name}: topology gave {len(devs)} devices, expected "
                   f"{target.num_devices}")
  return devs

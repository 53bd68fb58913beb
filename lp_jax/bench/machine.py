# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The processor a benchmark ran on, and one thread count for both frameworks."""

import os
import platform

from lp_jax.errors import InputError

# The instruction sets that decide which float32 GEMM / conv kernels oneDNN (PyTorch) and
# XLA:CPU pick; a ratio measured with AMX or AVX-512 does not carry over to a machine without.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16",
             "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")


def processor() -> dict:
  """Model name, family / model numbers and the ISA flags of interest, from /proc/cpuinfo."""
  info = {"model": platform.processor() or platform.machine(), "isa": []}
  try:
    with open("/proc/cpuinfo") as f:
      text = f.read()
  except OSError:
    return info
  fields = {}
  for line in text.split("\n\n", 1)[0].splitlines():
    key, _, value = line.partition(":")
    fields[key.strip()] = value.strip()
  info["model"] = fields.get("model name", fields.get("CPU part", info["model"]))
  for key in ("vendor_id", "cpu family", "model", "stepping"):
    if key in fields:
      info[key.replace(" ", "_") if key != "model" else "model_number"] = fields[key]
  flags = set((fields.get("flags") or fields.get("Features") or "").split())
  info["isa"] = [f for f in ISA_FLAGS if f in flags]
  return info


def available_cores() -> int:
  return len(os.sched_getaffinity(0))


def pin_threads(threads: int) -> int:
  """Restricts this process to `threads` cores; returns the count in force.

  Must run before JAX creates its CPU client: XLA sizes its intra-op pool from the schedulable
  cores at that moment and has no per-process thread-count setting. PyTorch gets the same number
  through torch.set_num_threads (done by the caller that imports torch).
  """
  cores = sorted(os.sched_getaffinity(0))
  if threads <= 0 or threads > len(cores):
    raise InputError(f"--threads {threads}: this process may use 1 to {len(cores)} cores")
  if threads < len(cores):
    os.sched_setaffinity(0, cores[:threads])
  return threads

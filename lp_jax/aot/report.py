# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Compile a Program for a target and report it; find the largest per-device batch that fits.

Roofline (an estimate, per device and step): max(FLOPs / peak FLOP/s of the compute dtype,
bytes accessed / HBM bandwidth, collective bytes / interconnect bandwidth). It leaves out
kernel launch and host overheads, imperfect overlap of the three, achievable (not peak) rates,
DCN between slices (counted at ICI speed), and the host side (data, decoding, encoding).

On TPU the record also holds `tpu_cost_model`: the compiler's own per-instruction estimates,
summed and attributed to networks (hlo.tpu_cost_model). The roofline counts a layer's FLOPs at
the peak rate; the compiler's model charges what its shapes do to the matrix units (a 7x7x7
conv to 22 channels: 4.8 ms of FLOPs at batch 8, 61.5 ms estimated).
"""

import math
import re
import time

from lp_jax.aot import hlo
from lp_jax.aot.targets import CHIPS, AotError, Target
from lp_jax.errors import first_line

# A ring all-reduce moves ~2x its buffer per device; the other collectives ~1x.
_COMM_FACTOR = {"all-reduce": 2.0}


class DoesNotFit(AotError):
  """The program needs more device memory than the chip has (the report says how much)."""

  def __init__(self, message: str, record: dict):
    super().__init__(message)
    self.record = record


_TRITON_GEMM = "xla_gpu_enable_triton_gemm"


def _triton_tiling_failure(e: Exception, target: Target, options) -> bool:
  return (target.platform == "cuda" and "Couldn't find output tile sizes" in str(e)
          and _TRITON_GEMM not in (options or {}))


def _resource_exhausted(e: Exception) -> bool:
  return "RESOURCE_EXHAUSTED" in str(e) or "exceeds available" in str(e)


def memory_report(compiled, capacity: int) -> dict:
  m = compiled.memory_analysis()
  rec = {"argument_bytes": int(m.argument_size_in_bytes),
         "output_bytes": int(m.output_size_in_bytes),
         "alias_bytes": int(m.alias_size_in_bytes),
         "temp_bytes": int(m.temp_size_in_bytes),
         "code_bytes": int(m.generated_code_size_in_bytes)}
  # Donated (aliased) buffers are counted in both arguments and outputs.
  total = (rec["argument_bytes"] + rec["output_bytes"] - rec["alias_bytes"] + rec["temp_bytes"] +
           rec["code_bytes"])
  rec.update(total_bytes=total, capacity_bytes=int(capacity),
             total_gib=round(total / 2 ** 30, 3), fraction_of_capacity=round(total / capacity, 4),
             fits=total <= capacity)
  return rec


def roofline(cost: dict, comm: dict, target: Target, precision: str, per_step_units: int,
             unit: str) -> dict:
  chip = CHIPS[target.chip]
  peak = chip.flops.get(precision)
  rec = {"peak_flops_per_s": peak, "hbm_bytes_per_s": chip.hbm_bytes_per_s,
         "interconnect_bytes_per_s": chip.interconnect_bytes_per_s}
  if peak is None:
    rec["note"] = f"{chip.name} has no {precision} matrix path"
    return rec
  compute_s = cost["flops"] / peak
  memory_s = cost["bytes_accessed"] / chip.hbm_bytes_per_s
  comm_bytes = sum(v["bytes"] * _COMM_FACTOR.get(k, 1.0) for k, v in comm.items())
  comm_s = comm_bytes / chip.interconnect_bytes_per_s if chip.interconnect_bytes_per_s else 0.0
  terms = {"compute": compute_s, "memory": memory_s, "collectives": comm_s}
  step_s = max(terms.values())
  sig = lambda x: float(f"{x:.4g}")
  rec.update(compute_s=sig(compute_s), memory_s=sig(memory_s), collectives_s=sig(comm_s),
             step_s=sig(step_s), bound=max(terms, key=terms.get))
  rec[f"ms_per_{unit}"] = sig(1e3 * step_s / max(per_step_units, 1))
  if not chip.interconnect_bytes_per_s and comm:
    rec["note"] = f"no interconnect figure for {chip.name}: collectives not in the estimate"
  return rec


def compiler_estimate(hlo_text: str, target: Target) -> dict | None:
  """XLA:TPU's own estimate of a compiled module (hlo.tpu_cost_model) at the target chip's clock;
  None for chips without one (GPUs)."""
  clock = CHIPS[target.chip].clock_hz
  return hlo.tpu_cost_model(hlo_text, clock) if clock else None


def compile_program(program, target: Target, job: str,
                    compiler_options: dict | None = None) -> dict:
  """Compiles `program` for `target`; returns its report (raises DoesNotFit when it does not).

  `compiler_options`: XLA debug options for this compile, e.g. {'xla_gpu_enable_triton_gemm':
  False} (the deviceless GPU compile of a training step can fail in the Triton GEMM emitter).
  """
  chip = CHIPS[target.chip]
  base = {"event": "compiled", "target": target.name, "job": job, "program": program.name,
          "chip": chip.name, "devices": target.num_devices, "mesh": program.mesh,
          "per_device_batch": program.per_device_batch, "global_batch": program.global_batch,
          "precision": program.precision}
  start = time.perf_counter()
  try:
    lowered = program.fn.lower(*program.args)
    try:
      compiled = lowered.compile(compiler_options=compiler_options or None)
    except Exception as e:  # pylint: disable=broad-except
      if not _triton_tiling_failure(e, target, compiler_options):
        raise
      # XLA's deviceless GPU compile finds no Triton tiling for some f32 dots (the backward of
      # jax.image.resize in the training losses); cuBLAS takes them with Triton GEMMs off.
      compiler_options = {**(compiler_options or {}), _TRITON_GEMM: False}
      base["compiler_options"] = compiler_options
      base["note"] = ("compiled with Triton GEMMs off: XLA found no Triton tiling for a dot "
                      "(deviceless compile)")
      compiled = lowered.compile(compiler_options=compiler_options)
  except Exception as e:  # pylint: disable=broad-except
    if not _resource_exhausted(e):
      raise AotError(f"compiling {program.name} for {target.name} failed: "
                     f"{first_line(e)}") from None
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    record = {**base, "event": "does_not_fit", "compile_s": round(time.perf_counter() - start, 1),
              "capacity_bytes": chip.memory_bytes, "compiler_report": lines[:6]}
    raise DoesNotFit(f"{program.name} at per-device batch {program.per_device_batch} does not "
                     f"fit {chip.name}: {lines[0] if lines else 'RESOURCE_EXHAUSTED'}",
                     record) from None
  compile_s = time.perf_counter() - start
  memory = memory_report(compiled, chip.memory_bytes)
  cost = hlo.program_cost(lowered, compiled, target.platform, target.num_devices)
  text = compiled.as_text()
  comm = hlo.collectives(text)
  if compiler_options:
    base["compiler_options"] = compiler_options
  if program.unit == "frame":
    units = max(program.per_device_batch, 1)
    base["per_frame"] = {"flops": cost["flops"] / units,
                         "bytes_accessed": cost["bytes_accessed"] / units,
                         "temp_bytes": memory["temp_bytes"] / units}
  record = {**base, "compile_s": round(compile_s, 1), "memory": memory, "cost": cost,
            "collectives": comm,
            "roofline": roofline(cost, comm, target, program.precision,
                                 program.per_device_batch, program.unit)}
  estimate = compiler_estimate(text, target)
  if estimate:
    estimate[f"ms_per_{program.unit}"] = float(
        f"{1e3 * estimate['seconds'] / max(program.per_device_batch, 1):.4g}")
    record["tpu_cost_model"] = estimate
  if not memory["fits"]:  # GPU compilers accept any size: compare with the card ourselves
    record["event"] = "does_not_fit"
    raise DoesNotFit(f"{program.name} at per-device batch {program.per_device_batch} needs "
                     f"{memory['total_gib']} GiB per device, {chip.name} has "
                     f"{round(chip.memory_bytes / 2 ** 30, 2)} GiB", record)
  return record


# XLA:TPU's refusal: "... exceeds available HBM (15.75G)." (less than the chip's nominal size)
_TPU_AVAILABLE = re.compile(r"exceeds available HBM \(([\d.]+)([KMGT]?)\)")
_UNITS = {"": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}


def usable_bytes(record: dict) -> float | None:
  """The device memory a refused TPU compile says was available; None where it does not say."""
  for line in record.get("compiler_report", ()):
    m = _TPU_AVAILABLE.search(line)
    if m:
      return float(m.group(1)) * _UNITS[m.group(2)]
  return None


def predict_fit(points: dict, capacity: float) -> int | None:
  """Largest batch whose memory, on the line through the two known points nearest the edge of
  `capacity`, stays within it; None with fewer than two points or memory that does not grow.

  Memory per device is affine in the batch to a good approximation (weights, optimizer state and
  code are fixed; activations scale), so two compiles predict the edge; a search verifies it.
  """
  if len(points) < 2:
    return None
  below = sorted(b for b in points if points[b] <= capacity)
  above = sorted(b for b in points if points[b] > capacity)
  pair = (below[-2:] if not above else above[:2] if not below else [below[-1], above[0]])
  if len(pair) < 2:
    return None
  (b0, b1), (m0, m1) = pair, (points[pair[0]], points[pair[1]])
  slope = (m1 - m0) / (b1 - b0)
  if slope <= 0:
    return None
  return b0 + math.floor((capacity - m0) / slope)


def max_batch(build, target: Target, job: str, limit: int = 4096, emit=None,
              compiler_options: dict | None = None, start: int = 1) -> dict:
  """Largest per-device batch b <= limit whose program fits.

  Each compile of a full training step takes minutes, so the search spends few: batches
  `start` and `start + 1`, then the batch the line through their memory predicts, then its
  neighbour to prove the edge (4 compiles when memory is affine in the batch; 2 when `start`
  is the answer). A probe whose outcome contradicts the prediction is followed by a bisection
  step, so a curved memory profile still converges in O(log limit) compiles; without memory
  figures it doubles, then bisects.

  Args:
    build: b -> Program.
    emit: called with every attempt's record (fits or not).
    start: the first batch tried (a batch known to be near the edge saves compiles).
  Returns:
    {'event': 'max_batch', 'per_device_batch': b, 'compiles': n, 'report': record of b}
    (b = 0: none fits).
  """
  capacity = float(CHIPS[target.chip].memory_bytes)
  points, tried = {}, 0

  def attempt(b):
    nonlocal tried, capacity
    tried += 1
    try:
      rec = compile_program(build(b), target, job, compiler_options)
    except DoesNotFit as e:
      rec = e.record
    if emit:
      emit(rec)
    if "memory" in rec:  # XLA:TPU's refusals give no usable total, GPU compiles always do
      points[b] = float(rec["memory"]["total_bytes"])
    capacity = min(capacity, usable_bytes(rec) or capacity)
    return rec["event"] == "compiled", rec

  if not 1 <= start <= limit:
    raise AotError(f"--max_batch_start {start}: expected 1 to the limit {limit}")
  best, best_rec, hi = 0, None, limit + 1  # largest batch known to fit, smallest known not to
  b, predicted = start, None
  while True:
    ok, rec = attempt(b)
    if ok:
      best, best_rec = b, rec
    else:
      hi = b
    if hi - best <= 1:
      break
    trusted = predicted is None or predicted == ok  # the last prediction came true
    guess = predict_fit(points, capacity) if trusted else None
    if guess is not None:
      guess = min(max(guess, best), hi - 1)
      # The predicted edge: probe the predicted batch, or, once it fits, the one above it.
      b, predicted = (guess + 1, False) if guess == best else (guess, True)
    else:
      if len(points) == 1 and best in points:  # the first fit: its neighbour gives the line
        b = best + 1
      else:
        b = best * 2 if hi > limit else (best + hi) // 2
      b, predicted = min(max(b, best + 1), hi - 1), None
  return {"event": "max_batch", "target": target.name, "job": job, "per_device_batch": best,
          "compiles": tried, "report": best_rec}

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""What a compiled program costs: memory, FLOPs, bytes and collectives, read from XLA.

- Memory: `compiled.memory_analysis()` per device (arguments, outputs, aliased, temporaries,
  generated code).
- FLOPs and bytes on TPU: `compiled.cost_analysis()`, XLA's count of the optimized per-device
  module.
- On GPU `cost_analysis()` is None, and in the optimized module cuDNN convolutions and cuBLAS
  GEMMs are custom calls that XLA's HLO cost analysis does not count. So there FLOPs come from
  the unoptimized (pre-partitioning, global) module divided by the device count, which is exact
  for the batch-split programs here, and bytes are the optimized module's count plus the operand
  and result bytes of every custom call.
- Collectives: every all-reduce / all-gather / reduce-scatter / collective-permute / all-to-all
  instruction of the optimized module (async `-start` halves once, `-done` not), with the bytes
  of its operands, i.e. what one device contributes. An instruction inside a loop body is
  counted once.
"""

import collections
import re

import numpy as np

_DTYPE_BYTES = {"pred": 1, "s4": 0.5, "u4": 0.5, "s8": 1, "u8": 1, "s16": 2, "u16": 2,
                "s32": 4, "u32": 4, "s64": 8, "u64": 8, "f16": 2, "bf16": 2, "f32": 4,
                "f64": 8, "c64": 8, "c128": 16, "f8e4m3fn": 1, "f8e5m2": 1, "f8e4m3": 1,
                "f8e5m2fnuz": 1, "f8e4m3fnuz": 1, "f8e3m4": 1, "f8e4m3b11fnuz": 1, "token": 0}
_ARRAY = re.compile(r"\b([a-z][a-z0-9]*)\[([0-9,]*)\]")
# '%name = <shape> opcode(operands), attrs' (also 'ROOT %name = ...').
_INSTR = re.compile(r"^\s*(?:ROOT\s+)?(%?[\w.\-]+)\s*=\s*(.+?)\s+([a-z][a-z0-9\-]*)\((.*)$")
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "collective-permute", "all-to-all",
               "collective-broadcast", "ragged-all-to-all")


def shape_bytes(shape_text: str) -> int:
  """Bytes of every array in an HLO shape string ('f32[8,64]{1,0}', tuples included)."""
  total = 0.0
  for dtype, dims in _ARRAY.findall(shape_text):
    if dtype not in _DTYPE_BYTES:
      continue
    n = int(np.prod([int(d) for d in dims.split(",") if d])) if dims else 1
    total += n * _DTYPE_BYTES[dtype]
  return int(total)


def _operand_names(rest: str) -> list[str]:
  """Operand names of 'a, %b, f32[2] %c), attrs...' (the text after the opening paren)."""
  depth, end = 1, len(rest)
  for i, ch in enumerate(rest):
    if ch in "({[":
      depth += 1
    elif ch in ")}]":
      depth -= 1
      if depth == 0:
        end = i
        break
  names = []
  for part in rest[:end].split(","):
    part = part.strip()
    if part:
      names.append(part.split()[-1])
  return names


def instructions(hlo_text: str):
  """Yields (name, result shape text, opcode, operand names, whole line) of an HLO module."""
  for line in hlo_text.splitlines():
    m = _INSTR.match(line)
    if m:
      name, shape, opcode, rest = m.groups()
      yield name.lstrip("%"), shape, opcode, [o.lstrip("%") for o in _operand_names(rest)], line


def collectives(hlo_text: str) -> dict:
  """{kind: {'count': n, 'bytes': operand bytes}} of the collectives in an optimized module."""
  shapes, out = {}, collections.defaultdict(lambda: {"count": 0, "bytes": 0})
  parsed = list(instructions(hlo_text))
  for name, shape, _, _, _ in parsed:
    shapes[name] = shape
  for name, shape, opcode, operands, _ in parsed:
    kind = opcode[:-len("-start")] if opcode.endswith("-start") else opcode
    if kind not in COLLECTIVES or opcode.endswith("-done"):
      continue
    operand_bytes = sum(shape_bytes(shapes.get(o, "")) for o in operands)
    out[kind]["count"] += 1
    out[kind]["bytes"] += operand_bytes or shape_bytes(shape)
  return {k: dict(v) for k, v in sorted(out.items())}


def custom_call_bytes(hlo_text: str) -> tuple[int, int]:
  """(count, operand + result bytes) of the custom calls (cuDNN / cuBLAS) of a module."""
  shapes, count, total = {}, 0, 0
  parsed = list(instructions(hlo_text))
  for name, shape, _, _, _ in parsed:
    shapes[name] = shape
  for _, shape, opcode, operands, _ in parsed:
    if opcode == "custom-call":
      count += 1
      total += shape_bytes(shape) + sum(shape_bytes(shapes.get(o, "")) for o in operands)
  return count, total


def _first(cost):
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  return cost or {}


def hlo_cost(hlo_module) -> dict:
  """XLA's HLO cost analysis of an HloModule, run by the CPU client (any backend's module)."""
  import jax  # pylint: disable=g-import-not-at-top
  from jax._src.lib import xla_client  # pylint: disable=g-import-not-at-top
  return dict(xla_client._xla.hlo_module_cost_analysis(  # pylint: disable=protected-access
      jax.devices("cpu")[0].client, hlo_module))


def program_cost(lowered, compiled, platform: str, num_devices: int) -> dict:
  """Per-device {'flops', 'bytes_accessed', 'flops_source', 'bytes_source', ...}."""
  if platform == "tpu":
    cost = _first(compiled.cost_analysis())
    return {"flops": float(cost.get("flops", float("nan"))),
            "bytes_accessed": float(cost.get("bytes accessed", float("nan"))),
            "transcendentals": float(cost.get("transcendentals", 0.0)),
            "flops_source": "compiled.cost_analysis (optimized, per device)",
            "bytes_source": "compiled.cost_analysis (optimized, per device)"}
  global_cost = hlo_cost(lowered.compiler_ir("hlo").as_hlo_module())
  optimized = hlo_cost(compiled.runtime_executable().hlo_modules()[0])
  calls, call_bytes = custom_call_bytes(compiled.as_text())
  return {"flops": float(global_cost.get("flops", 0.0)) / num_devices,
          "bytes_accessed": float(optimized.get("bytes accessed", 0.0)) + call_bytes,
          "transcendentals": float(global_cost.get("transcendentals", 0.0)) / num_devices,
          "flops_source": "HLO cost analysis of the unoptimized module / devices",
          "bytes_source": f"optimized module + operands/results of {calls} custom calls",
          "bytes_unoptimized_per_device":
              float(global_cost.get("bytes accessed", 0.0)) / num_devices}


# XLA:TPU writes its own cost model's estimate into each scheduled instruction of the compiled
# module (backend_config window_config.estimated_cycles; `compiled.as_text()` has it).
_CYCLES = re.compile(r'"estimated_cycles":"(\d+)"')
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_CALLS = re.compile(r"calls=%?([\w.\-]+)")
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
# The Flax class a JAX op came from: 'jit(render)/WarpingNetwork/...',
# 'jit(stage1_step)/transpose(jvp(SPADEDecoder))/up_1/...'.
_MODULE = re.compile(r"[/(]([A-Z]\w*)")


def _op_kind(op_name: str) -> str:
  last = op_name.rsplit("/", 1)[-1]
  if "conv_general_dilated" in last or last.startswith(("dot_general", "einsum")):
    return "conv / matmul"
  for kind in ("gather", "scatter", "reduce", "all-reduce", "all-gather", "all-to-all"):
    if kind in last:
      return kind
  return "elementwise / layout"


def tpu_cost_model(hlo_text: str, clock_hz: float, top: int = 10) -> dict | None:
  """XLA:TPU's estimated time of a compiled module: its per-instruction cycle estimates, summed.

  Unlike the roofline (FLOPs and bytes at peak rates), the compiler's model charges what the
  hardware does with a layer's shapes: a conv with 22 output channels on 128-wide matrix units,
  tiles padded to (8, 128), layout copies. The sum is serial (no overlap of collectives with
  compute) and counts an instruction inside a loop body once. Each instruction is attributed to
  the Flax network its JAX op came from, forward or backward (`transpose`). None where the
  module carries no estimates (GPU, CPU).
  """
  comp, first_name, costed = None, {}, []
  for line in hlo_text.splitlines():
    if not line.startswith(" "):
      m = _COMPUTATION.match(line)
      comp = m.group(1) if m else comp
      continue
    name = _OP_NAME.search(line)
    if name and comp not in first_name:
      first_name[comp] = name.group(1)
    cycles = _CYCLES.search(line)
    if cycles:
      calls = _CALLS.search(line)
      costed.append((int(cycles.group(1)), name.group(1) if name else None,
                     calls.group(1) if calls else None, line))
  if not costed:
    return None
  by_network, by_kind, ops = (collections.Counter(), collections.Counter(), [])
  for cycles, op_name, calls, line in costed:
    op_name = op_name or first_name.get(calls, "")
    modules = _MODULE.findall(op_name)
    network = (modules[0] if modules else "other") + (
        " backward" if "transpose(" in op_name else " forward")
    by_network[network] += cycles
    by_kind[_op_kind(op_name)] += cycles
    ops.append((cycles, line.split("=", 1)[0].strip().lstrip("%"), op_name))
  total = sum(by_network.values())
  sig = lambda c: float(f"{c / clock_hz:.4g}")
  ops.sort(key=lambda o: -o[0])
  return {"seconds": sig(total), "instructions": len(costed), "clock_hz": clock_hz,
          "loops": bool(re.search(r"\swhile\(", hlo_text)),
          "by_network_s": {k: sig(v) for k, v in by_network.most_common()},
          "by_kind_s": {k: sig(v) for k, v in by_kind.most_common()},
          "top_ops": [{"s": sig(c), "instruction": n, "op_name": o} for c, n, o in ops[:top]]}

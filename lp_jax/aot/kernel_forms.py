# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Each rewritten layer form against its plain alternative, compiled for a GPU or TPU target.

Per (form, shape, target, precision) both forms of the layer are compiled for one device of the
target (batch 1, the shapes the official networks use) and read back: FLOPs and bytes accessed
(lp_jax.aot.hlo.program_cost), temp bytes (memory_analysis) and the roofline time of the chip
table (lp_jax.aot.report.roofline). The "rewrite" is the CPU choice of models/kernels.py, the
"plain" form the official computation; every other field is plain, so each rewrite is measured
alone (the channel padding and the phase conv's depth fold inside their own rewrite).

The per-backend table (kernels.GPU / kernels.TPU) takes the rewrite where its time, summed over
the shapes, is lower by more than `MARGIN` and its temp memory is not more than `TEMP_LIMIT`
times the plain form's (or `TEMP_SLACK` more); otherwise the plain form (simpler, fewer ops).
The time is the roofline on GPU and XLA:TPU's own per-instruction estimate on TPU (`time_key`).
"""

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import SingleDeviceSharding

from lp_jax import precision as precision_lib
from lp_jax.aot import hlo, report
from lp_jax.aot.targets import Target
from lp_jax.inference import networks
from lp_jax.models import dense_motion, kernels, liveportrait, spade_generator, util
from lp_jax.models.kernels import KernelForms
from lp_jax.ops import grid_sample

MARGIN = 0.02  # a rewrite must save more than 2% of the time (roofline or TPU estimate)
TEMP_LIMIT = 1.5  # ... and need at most 1.5x the plain form's temp memory
TEMP_SLACK = 32 * 2 ** 20  # ... or at most this much more (per case, batch 1)
PLAIN = KernelForms(conv3d_fold_min_hw=None, conv3d_fold_pad=False, upblock3d_phase_min_hw=None,
                    phase3d_fold_min_hw=None, upsample2d_phase=False, occlusion_taps=False,
                    depthwise_stencil=False, generator_chunk=None, winograd_max_hw=None,
                    winograd3d_min_hw=None, fft_conv3d_min_kernel=None,
                    separable_sparse_motion=False)


@dataclasses.dataclass(frozen=True)
class Case:
  form: str  # KernelForms field
  shape: str  # where the networks use it
  layer: Callable  # (dtype, forms) -> the Flax layer built with those forms
  inputs: tuple  # input shapes (batch 1), in the compute dtype
  rewrite: KernelForms  # forms with the CPU rewrite on
  plain: KernelForms  # forms with it off
  out_channels: int | None = None  # a Conv3d's output width (conv3d_fold_max_out's verdict)


def _pair(form: str, rewrite_value, base: KernelForms = PLAIN, plain_value=None):
  plain = dataclasses.replace(base, **{form: plain_value if plain_value is not None
                                       else getattr(PLAIN, form)})
  return dataclasses.replace(base, **{form: rewrite_value}), plain


def cases() -> list[Case]:
  """Every rewrite at the shapes of the official networks (configs/models.py 'official')."""
  cpu, out = kernels.CPU, []
  fold = _pair("conv3d_fold_min_hw", cpu.conv3d_fold_min_hw)
  # Conv3d 3x3x3 / 7x7x7: F's residual blocks, W's hourglass levels from 16x16 up, its output
  # conv and its mask conv (depth 16 throughout).
  conv3d = [("F resblock 16x64x64 32->32", 3, 64, 32, 32),
            ("hourglass down 16x64x64 110->64", 3, 64, 110, 64),
            ("hourglass down 16x32x32 64->128", 3, 32, 64, 128),
            ("hourglass down 16x16x16 128->256", 3, 16, 128, 256),
            ("hourglass out 16x64x64 142->142", 3, 64, 142, 142),
            ("mask 7x7x7 16x64x64 142->22", 7, 64, 142, 22)]
  conv3d_layer = lambda cout, k: lambda dt, f: util.conv(cout, k, ndim=3, padding=k // 2,
                                                        forms=f, dtype=dt)
  for label, k, hw, cin, cout in conv3d:
    layer = conv3d_layer(cout, k)
    out.append(Case("conv3d_fold_min_hw", label, layer, ((1, 16, hw, hw, cin),), *fold,
                    out_channels=cout))
  # The channel padding inside the fold, where it pads (channels not multiples of 8 / 16).
  folded = dataclasses.replace(PLAIN, conv3d_fold_min_hw=cpu.conv3d_fold_min_hw)
  pad = _pair("conv3d_fold_pad", True, base=folded)
  for label, k, hw, cin, cout in conv3d:
    if cin % 8 or (k * cout) % 16:
      layer = conv3d_layer(cout, k)
      out.append(Case("conv3d_fold_pad", label, layer, ((1, 16, hw, hw, cin),), *pad))
  # W's hourglass up blocks with inputs from 8x8 (the CPU phase threshold) up.
  ups = [("up block 16x8x8 512->128", 8, 512, 128), ("up block 16x16x16 256->64", 16, 256, 64),
         ("up block 16x32x32 128->32", 32, 128, 32)]
  phase = _pair("upblock3d_phase_min_hw", cpu.upblock3d_phase_min_hw)
  phased = dataclasses.replace(PLAIN, upblock3d_phase_min_hw=cpu.upblock3d_phase_min_hw)
  phase_fold = _pair("phase3d_fold_min_hw", cpu.phase3d_fold_min_hw, base=phased)
  for label, hw, cin, cout in ups:
    layer = lambda dt, f, cout=cout: util.UpBlock3d(cout, dt, f)
    out.append(Case("upblock3d_phase_min_hw", label, layer, ((1, 16, hw, hw, cin),), *phase))
    out.append(Case("phase3d_fold_min_hw", label, layer, ((1, 16, hw, hw, cin),), *phase_fold))
  # G's SPADE blocks whose map (64x64x256) is upsampled: up_0 at 128, up_1 at 256.
  spade = _pair("upsample2d_phase", True)
  for label, hw, nc in (("SPADE 128x128x512, map 64x64x256", 128, 512),
                        ("SPADE 256x256x64, map 64x64x256", 256, 64)):
    layer = lambda dt, f, nc=nc: spade_generator.SPADE(nc, 128, dt, f)
    out.append(Case("upsample2d_phase", label, layer, ((1, hw, hw, nc), (1, 64, 64, 256)),
                    *spade))
  # W's occlusion head: 7x7 conv of the flattened volume (142 x 16 channels) to one map.
  occ = _pair("occlusion_taps", True)
  head = lambda dt, f: util.conv(1, 7, padding=3, forms=f, dtype=dt)
  out.append(Case("occlusion_taps", "occlusion 64x64 2272->1 7x7", head,
                  ((1, 64, 64, 2272),), *occ))
  # Fewer multiply-adds: Winograd 3x3 convs (G's blocks, W's third; the hourglass's 64x64
  # levels) and the FFT mask conv.
  wino = _pair("winograd_max_hw", cpu.winograd_max_hw)
  for label, hw, cin, cout in (("G middle 64x64 512->512", 64, 512, 512),
                               ("G up_0 128x128 512->256", 128, 512, 256),
                               ("G up_1 256x256 256->64", 256, 256, 64)):
    out.append(Case("winograd_max_hw", label,
                    lambda dt, f, cout=cout: util.conv(cout, 3, padding=1, forms=f, dtype=dt),
                    ((1, hw, hw, cin),), *wino))
  wino3d = _pair("winograd3d_min_hw", cpu.winograd3d_min_hw)
  for label, cin, cout in (("hourglass down 16x64x64 110->64", 110, 64),
                           ("hourglass out 16x64x64 142->142", 142, 142)):
    out.append(Case("winograd3d_min_hw", label, conv3d_layer(cout, 3), ((1, 16, 64, 64, cin),),
                    *wino3d))
  out.append(Case("fft_conv3d_min_kernel", "mask 7x7x7 16x64x64 142->22",
                  conv3d_layer(22, 7), ((1, 16, 64, 64, 142),),
                  *_pair("fft_conv3d_min_kernel", cpu.fft_conv3d_min_kernel)))
  # W's dense motion: the compressed volume (4 channels) sampled at the K+1 = 22 sparse motions.
  out.append(Case("separable_sparse_motion", "sparse motions 22 x 16x64x64x4", SparseMotions,
                  ((1, 16, 64, 64, 4), (1, 21, 3), (1, 21, 3)),
                  *_pair("separable_sparse_motion", True)))
  # W's final warp of F's volume by the deformation, at a batch of 8 frames (at 1 the two
  # forms are one gather).
  out.append(Case("warp_gather_per_frame", "final warp 8 x 16x64x64x32", FinalWarp,
                  ((8, 16, 64, 64, 32), (8, 16, 64, 64, 3)),
                  *_pair("warp_gather_per_frame", True)))
  # M's ConvNeXt-V2-tiny depthwise 7x7 per stage.
  dw = _pair("depthwise_stencil", True)
  for hw, c in ((64, 96), (32, 192), (16, 384), (8, 768)):
    out.append(Case("depthwise_stencil", f"dwconv 7x7 {hw}x{hw}x{c}",
                    lambda dt, f, c=c: util.conv(c, 7, padding=3, groups=c, forms=f, dtype=dt),
                    ((1, hw, hw, c),), *dw))
  return out


class SparseMotions(nn.Module):
  """The dense-motion network's sampling of its volume at the sparse motions (no variables)."""
  dtype: Any
  forms: KernelForms

  def __call__(self, feature, kp_driving, kp_source):
    # Keypoints stay float32 in the network whatever the compute dtype.
    return dense_motion.deform_input(feature, kp_driving.astype(jnp.float32),
                                     kp_source.astype(jnp.float32),
                                     self.forms.separable_sparse_motion)


class FinalWarp(nn.Module):
  """W's warp of the feature volume by a deformation (no variables)."""
  dtype: Any
  forms: KernelForms

  def __call__(self, feature, deformation):
    # The deformation stays float32 in the network whatever the compute dtype.
    return grid_sample.grid_sample(feature, deformation.astype(jnp.float32),
                                   self.forms.warp_gather_per_frame)


def compile_case(layer: Callable, inputs: tuple, forms: KernelForms, target: Target, device,
                 precision: str) -> dict:
  """{'flops', 'bytes', 'temp_bytes', 'roofline_s', 'bound'} of one form on one device."""
  dtype = precision_lib.DTYPES[precision]
  module = layer(dtype, forms)
  sharding = SingleDeviceSharding(device)
  xs = tuple(jax.ShapeDtypeStruct(s, dtype, sharding=sharding) for s in inputs)
  variables = jax.eval_shape(module.init, jax.random.key(0), *xs)
  variables = jax.tree.map(lambda v: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=sharding),
                           variables)
  return _program(module.apply, (variables, *xs), target, precision)


def measure(case: Case, target: Target, device, precision: str) -> dict:
  """One JSON record: both forms of `case` on `target` at `precision`, and the table's pick."""
  chosen = getattr(kernels.for_platform(target.platform), case.form)
  return {"form": case.form, "shape": case.shape, "target": target.name,
          "platform": target.platform, "precision": precision,
          "input_hw": case.inputs[0][-3] * case.inputs[0][-2],
          **({"output_channels": case.out_channels} if case.out_channels else {}),
          "rewrite": compile_case(case.layer, case.inputs, case.rewrite, target, device,
                                  precision),
          "plain": compile_case(case.layer, case.inputs, case.plain, target, device, precision),
          "table_value": chosen}


def time_key(records: list[dict]) -> str:
  """What the rule sums: XLA:TPU's own estimate where every record has one, else the roofline.

  On TPU the roofline misranks layers whose shapes waste the matrix units: W's 7x7x7 mask conv
  to 22 channels reads the fewest bytes direct, but the compiler estimates it 3.7x slower than
  with its depth taps stacked as outputs (bf16, batch 8).
  """
  return "estimate_s" if all("estimate_s" in x for x in records) else "roofline_s"


def _better(rewrite: list[dict], plain: list[dict], key: str) -> bool:
  """The rule: rewrite saves > MARGIN of the summed time (`key`) and its temp memory stays
  within TEMP_LIMIT x or TEMP_SLACK + the plain form's."""
  r, p = (sum(x[key] for x in xs) for xs in (rewrite, plain))
  temp_ok = all(a["temp_bytes"] <= max(TEMP_LIMIT * b["temp_bytes"],
                                       b["temp_bytes"] + TEMP_SLACK)
                for a, b in zip(rewrite, plain))
  return r < (1 - MARGIN) * p and temp_ok


def _edge(records: list[dict], by: str, down: bool, key: str) -> tuple:
  """The measured `by` value from which the rewrite wins at every one beyond it (down: from
  the largest value down, else from the smallest up), None where it loses at the first; and
  the win per value."""
  wins = {}
  for v in sorted({r[by] for r in records}):
    at = [r for r in records if r[by] == v]
    wins[v] = _better([r["rewrite"] for r in at], [r["plain"] for r in at], key)
  edge = None
  for v in sorted(wins, reverse=down):
    if not wins[v]:
      break
    edge = v
  return edge, {str(k): v for k, v in wins.items()}


def as_max_out(records: list[dict]) -> list[dict]:
  """The depth fold's records read for `conv3d_fold_max_out` (the output widths it wins at)."""
  return [{**r, "form": "conv3d_fold_max_out"} for r in records]


def verdict(records: list[dict]) -> dict:
  """The rule over one form's records on one target (all shapes and precisions).

  Boolean fields: the rewrite or not, over all records at once. Threshold fields (an input
  H * W from which the rewrite is used): the smallest measured H * W from which the rewrite
  wins at every larger one, else None (plain everywhere). `conv3d_fold_max_out`: the largest
  measured output width up to which the fold wins at every narrower one (None: at every width,
  no cap; 0: at none); `conv3d_fold_min_hw` is then judged on the convs within that width.
  """
  form, cpu_value = records[0]["form"], getattr(kernels.CPU, records[0]["form"])
  table = getattr(kernels.for_platform(records[0]["platform"]), form)
  max_out, key = None, time_key([r[f] for r in records for f in ("rewrite", "plain")])
  if form == "conv3d_fold_max_out":
    edge, wins = _edge(records, "output_channels", False, key)
    widest = max(r["output_channels"] for r in records)
    rule = None if edge == widest else (edge or 0)
    return {"rewrite_wins_at_out": wins, "rule_value": rule, "table_value": table,
            "agrees": rule == table}
  if form == "conv3d_fold_min_hw" and all("output_channels" in r for r in records):
    max_out = verdict(as_max_out(records))["rule_value"]
    records = [r for r in records if max_out is None or r["output_channels"] <= max_out]
  rewrite = [r["rewrite"] for r in records]
  plain = [r["plain"] for r in records]
  out = {"rewrite_roofline_s": float(f"{sum(x['roofline_s'] for x in rewrite):.4g}"),
         "plain_roofline_s": float(f"{sum(x['roofline_s'] for x in plain):.4g}"),
         "ranked_by": key}
  if key == "estimate_s":
    out.update(rewrite_estimate_s=float(f"{sum(x[key] for x in rewrite):.4g}"),
               plain_estimate_s=float(f"{sum(x[key] for x in plain):.4g}"))
  if form == "conv3d_fold_min_hw" and max_out is not None:
    out["within_max_out"] = max_out
  if not form.endswith("_min_hw"):
    # A boolean field's rewrite is True, also where CPU's row keeps the plain form.
    rewrite_value = True if isinstance(cpu_value, bool) else cpu_value
    rule = rewrite_value if _better(rewrite, plain, key) else getattr(PLAIN, form)
    return {**out, "rule_value": rule, "table_value": table, "agrees": rule == table}
  threshold, wins = _edge(records, "input_hw", True, key)
  return {**out, "rewrite_wins_at_hw": wins, "rule_value": threshold, "table_value": table,
          "agrees": threshold == table}


def _program(fn, args, target: Target, precision: str) -> dict:
  lowered = jax.jit(fn).lower(*args)
  compiled = lowered.compile()
  cost = hlo.program_cost(lowered, compiled, target.platform, 1)
  line = report.roofline(cost, {}, target, precision, 1, "call")
  out = {"flops": cost["flops"], "bytes": cost["bytes_accessed"],
         "temp_bytes": int(compiled.memory_analysis().temp_size_in_bytes),
         "roofline_s": line.get("step_s"), "bound": line.get("bound")}
  estimate = report.compiler_estimate(compiled.as_text(), target)
  if estimate:
    out["estimate_s"] = estimate["seconds"]
  return out


def generator_record(target: Target, device, precision: str, batch: int, config) -> dict:
  """G over a `batch` of frames: frame by frame (lax.map, chunk 1) against the whole batch.

  XLA's cost analysis sees a loop body once (and a GPU compile may unroll it), so the map's
  FLOPs, bytes and roofline are `batch` x those of the one-frame program; its temp memory is
  the compiled map's own.
  """
  dtype = precision_lib.DTYPES[precision]
  gen = liveportrait.build("spade_generator", config, spectral_norm_folded=True, dtype=dtype,
                           platform=target.platform)
  sharding = SingleDeviceSharding(device)
  feature = lambda b: jax.ShapeDtypeStruct(
      liveportrait.example_inputs("spade_generator", config, b)[0].shape, dtype,
      sharding=sharding)
  variables = jax.eval_shape(gen.init, jax.random.key(0), feature(1))
  variables = jax.tree.map(lambda v: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=sharding),
                           variables)
  decode = lambda chunk: lambda v, f: networks.decode_in_chunks(gen, v, f, chunk)
  plain = _program(decode(None), (variables, feature(batch)), target, precision)
  one = _program(decode(None), (variables, feature(1)), target, precision)
  mapped = _program(decode(1), (variables, feature(batch)), target, precision)
  rewrite = {"flops": one["flops"] * batch, "bytes": one["bytes"] * batch,
             "temp_bytes": mapped["temp_bytes"], "roofline_s": one["roofline_s"] * batch,
             "bound": one["bound"]}
  if "estimate_s" in one:
    rewrite["estimate_s"] = one["estimate_s"] * batch
  chosen = kernels.for_platform(target.platform).generator_chunk
  return {"form": "generator_chunk", "shape": f"G batch {batch}", "target": target.name,
          "platform": target.platform, "precision": precision, "rewrite": rewrite,
          "plain": plain, "table_value": chosen}

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Our forward passes alone: `python -m lp_jax.bench` without --official.

Prints one JSON line per (network, batch size): compile seconds, seconds per call and per
frame after compilation (median of --repeats), XLA's FLOP count per frame, achieved FLOP/s,
and the same-process ratio of that rate to a large float32 matmul measured right before, which
is comparable across noisy machines where absolute times are not. Peak RSS closes the run.

Weights are random (PyTorch-style init, spectral norm folded as at inference): speed does not
depend on their values. Pass --weights to time a converted checkpoint instead.
"""

import json
import os
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from lp_jax import precision as precision_lib
from lp_jax.inference.networks import default_generator_chunk, kp_info, warp_decode_fn
from lp_jax.models import liveportrait


def timed(fn, args, repeats: int) -> tuple[float, list[float], float]:
  """(compile seconds, per-call seconds, XLA FLOPs per call) of a jitted fn.

  The first call after compilation is excluded (allocations, thread-pool start-up).
  """
  start = time.perf_counter()
  compiled = fn.lower(*args).compile()
  compile_s = time.perf_counter() - start
  jax.block_until_ready(compiled(*args))  # warm-up: allocations, thread pools
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - start)
  return compile_s, times, cost_flops(compiled)


def cost_flops(compiled) -> float:
  """XLA's FLOP count of a compiled executable."""
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get("flops", float("nan"))) if cost else float("nan")


def matmul_rate(n: int = 2048, repeats: int = 5) -> float:
  """FLOP/s of an n x n float32 matmul on the default device (the same-process reference)."""
  a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n), np.float32))
  fn = jax.jit(lambda x: x @ x)
  _, times, _ = timed(fn, (a,), repeats)
  return 2 * n ** 3 / min(times)


def benchmarks(config, variables, batch: int, dtype=jnp.float32):
  """(name, jitted fn, args, fn to count FLOPs with or None) per timed unit at this batch."""
  nets = {n: liveportrait.build(n, config, spectral_norm_folded=True, dtype=dtype)
          for n in variables}
  img = jnp.asarray(np.random.default_rng(1).uniform(size=(batch, 256, 256, 3)), jnp.float32)
  f_s, kp, _ = liveportrait.example_inputs("warping_module", config, batch)
  kp = jnp.asarray(np.random.default_rng(2).uniform(-0.5, 0.5, kp.shape), jnp.float32)
  apply = lambda name: jax.jit(nets[name].apply)
  yield ("F", apply("appearance_feature_extractor"),
         (variables["appearance_feature_extractor"], img), None)
  yield ("M", jax.jit(lambda v, x: kp_info(nets["motion_extractor"], v, x)),
         (variables["motion_extractor"], img), None)
  wg = lambda chunk: jax.jit(lambda wv, gv, f, xs, xd: warp_decode_fn(
      nets["warping_module"], nets["spade_generator"], wv, gv, f, xs, xd, chunk))
  # Timed: exactly what LivePortraitModels.warp_decode runs. Counted: the same graph without the
  # frame-by-frame lax.map, whose loop body XLA's cost analysis counts only once.
  yield ("W+G", wg(default_generator_chunk()),
         (variables["warping_module"], variables["spade_generator"], f_s, kp, kp), wg(None))
  stitch_in = jnp.zeros((batch, config.stitching.input_size), jnp.float32)
  yield ("stitching", apply("stitching"), (variables["stitching"], stitch_in), None)


def run(args, variables, config) -> int:
  """Prints one JSON line per (network, batch size), then the peak RSS."""
  precision = precision_lib.resolve(args.precision, True, jax.default_backend())
  wanted = set(args.networks.split(","))
  device = jax.devices()[0]
  emit({"event": "setup", "backend": jax.default_backend(), "device": device.device_kind,
        "devices": jax.device_count(), "jax": jax.__version__, "model_config": args.model_config,
        "precision": precision, "xla_flags": os.environ.get("XLA_FLAGS", "")})
  for batch in [int(b) for b in args.batch_sizes.split(",")]:
    for name, fn, fn_args, count_fn in benchmarks(config, variables, batch,
                                                  precision_lib.dtype(precision)):
      if name not in wanted:
        continue
      ref = matmul_rate()  # re-measured next to each unit: the machine's load drifts
      compile_s, times, flops = timed(fn, fn_args, args.repeats)
      if count_fn is not None:
        flops = cost_flops(count_fn.lower(*fn_args).compile())
      per_call = statistics.median(times)
      emit({"event": "forward", "network": name, "batch": batch, "precision": precision,
            "compile_s": round(compile_s, 3), "s_per_call": round(per_call, 4),
            "s_per_frame": round(per_call / batch, 4), "s_per_call_min": round(min(times), 4),
            "gflop_per_frame": round(flops / batch / 1e9, 2),
            "gflops_achieved": round(flops / per_call / 1e9, 1),
            "matmul_gflops": round(ref / 1e9, 1),
            "ratio_to_matmul": round(flops / per_call / ref, 3)})
  # ru_maxrss is in KiB on Linux.
  emit({"event": "peak_rss", "mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss /
                                         1024, 1)})
  return 0


def emit(record: dict) -> None:
  print(json.dumps(record), flush=True)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The official PyTorch code and ours side by side: `python -m lp_jax.bench --official DIR`.

Per network, `--rounds` rounds each time `--repeats` calls of the official wrapper's method and
then of our jitted equivalent, so that load from other jobs on a shared machine hits both alike;
the medians over all calls and their ratio (ours / official) are reported with each framework's
matmul rate, measured next to the network in the same process. Both run batch 1, float32, on the
same weights (ours, exported to the official .pth layout and loaded by the official code) and the
same number of threads; the largest output difference shows that they computed the same thing.
"""

import os
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from lp_jax.bench import forward, machine, official
from lp_jax.inference.networks import default_generator_chunk, kp_info, warp_decode_fn
from lp_jax.models import liveportrait
from lp_jax.weights import for_inference

NETWORKS = ("F", "M", "W+G")
UNITS = {"F": "per source", "M": "per frame", "W+G": "per frame"}


def inputs(config, seed: int = 1) -> dict:
  """Batch-1 inputs in our layout: image [1, 256, 256, 3], volume, source / driving keypoints."""
  rng = np.random.default_rng(seed)
  f = config.appearance_feature_extractor
  num_kp = config.warping_module.num_kp
  kp = lambda: rng.uniform(-0.5, 0.5, (1, num_kp, 3)).astype(np.float32)
  return {"image": rng.uniform(size=(1, 256, 256, 3)).astype(np.float32),
          "feature_3d": rng.standard_normal((1, f.reshape_depth, 64, 64, f.reshape_channel)
                                            ).astype(np.float32),
          "kp_source": kp(), "kp_driving": kp()}


def our_calls(config, variables: dict, data: dict) -> dict:
  """{network: (compiled fn, args, output -> numpy in the official method's output)}."""
  net = lambda name: liveportrait.build(name, config, spectral_norm_folded=True)
  warp, gen = net("warping_module"), net("spade_generator")
  image, f_s = jnp.asarray(data["image"]), jnp.asarray(data["feature_3d"])
  x_s, x_d = jnp.asarray(data["kp_source"]), jnp.asarray(data["kp_driving"])
  chunk = default_generator_chunk()
  return {
      "F": (jax.jit(net("appearance_feature_extractor").apply),
            (variables["appearance_feature_extractor"], image), np.asarray),
      "M": (jax.jit(lambda v, x: kp_info(net("motion_extractor"), v, x)),
            (variables["motion_extractor"], image), lambda out: np.asarray(out["kp"])),
      "W+G": (jax.jit(lambda wv, gv, f, xs, xd: warp_decode_fn(warp, gen, wv, gv, f, xs, xd,
                                                                 chunk)),
              (variables["warping_module"], variables["spade_generator"], f_s, x_s, x_d),
              lambda out: np.asarray(out["out"])),
  }


def seconds(fn, repeats: int) -> list[float]:
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return times


def compare(name, official_call, ours, rounds: int, repeats: int) -> dict:
  """One network: warm-up both, then `rounds` x (official calls, our calls)."""
  fn, args, to_numpy = ours
  start = time.perf_counter()
  compiled = fn.lower(*args).compile()
  compile_s = time.perf_counter() - start
  ours_call = lambda: jax.block_until_ready(compiled(*args))
  # The first call of each excluded (allocations, thread pools, oneDNN primitive caches).
  diff = float(np.max(np.abs(official_call() - to_numpy(ours_call()))))
  t_official, t_ours = [], []
  for _ in range(rounds):
    t_official += seconds(official_call, repeats)
    t_ours += seconds(ours_call, repeats)
  med_official, med_ours = statistics.median(t_official), statistics.median(t_ours)
  return {"event": "side_by_side", "network": name, "unit": UNITS[name],
          "official_s": round(med_official, 4), "ours_s": round(med_ours, 4),
          "ratio": round(med_ours / med_official, 3),
          # Of the fastest calls: the least disturbed when other jobs load the machine in bursts.
          "ratio_min": round(min(t_ours) / min(t_official), 3),
          "official_range_s": [round(min(t_official), 4), round(max(t_official), 4)],
          "ours_range_s": [round(min(t_ours), 4), round(max(t_ours), 4)],
          "calls": len(t_ours), "ours_compile_s": round(compile_s, 2),
          "max_abs_diff": diff,
          "official_matmul_gflops": round(official.matmul_rate() / 1e9, 1),
          "ours_matmul_gflops": round(forward.matmul_rate() / 1e9, 1)}


def run(args, config, variables: dict, threads: int) -> int:
  """Prints the setup and one JSON line per network, then a table; returns the exit status."""
  root = official.check_checkout(args.official)
  cpu = machine.processor()
  forward.emit({"event": "setup", "mode": "side_by_side", "processor": cpu["model"],
                "isa": cpu["isa"], "cpu": {k: v for k, v in cpu.items()
                                          if k not in ("model", "isa")},
                "threads": threads, "torch": official.version(), "jax": jax.__version__,
                "backend": jax.default_backend(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
                "official": root, "dtype": "float32",
                "batch": 1, "rounds": args.rounds, "repeats": args.repeats})
  with tempfile.TemporaryDirectory(prefix="lp_bench_official_") as tmp:
    wrapper = official.load_wrapper(root, official.write_checkpoints(variables, tmp), threads)
  data = inputs(config)
  theirs = official.calls(wrapper, **data)
  ours = our_calls(config, for_inference(variables), data)
  records = []
  for name in [n for n in NETWORKS if n in args.networks.split(",")]:
    records.append(compare(name, theirs[name], ours[name], args.rounds, args.repeats))
    forward.emit(records[-1])
  print(table(records, cpu, threads), flush=True)
  return 0


def table(records: list[dict], cpu: dict, threads: int) -> str:
  """The readable summary: a markdown table under one line naming the machine and versions."""
  lines = [f"\n{cpu['model']} ({', '.join(cpu['isa']) or 'no ISA flags read'}), {threads} "
           f"threads, torch {official.version()}, jax {jax.__version__}, float32, batch 1",
           "| network | official PyTorch s: range (median) | lp_jax s: range (median) | "
           "lp_jax / official: medians (fastest) | matmul GFLOP/s torch / jax |",
           "| --- | --- | --- | --- | --- |"]
  for r in records:
    span = lambda key, med: f"{r[key][0]:.3f}-{r[key][1]:.3f} ({med:.3f})"
    lines.append(f"| {r['network']} ({r['unit']}) | {span('official_range_s', r['official_s'])}"
                 f" | {span('ours_range_s', r['ours_s'])} | {r['ratio']:.2f} "
                 f"({r['ratio_min']:.2f}) | {r['official_matmul_gflops']:.0f} / "
                 f"{r['ours_matmul_gflops']:.0f} |")
  return "\n".join(lines)

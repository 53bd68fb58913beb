# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Benchmark of the LivePortrait networks: `python -m lp_jax.bench [--official DIR]`.

Without --official: our jitted forward passes after compilation, one JSON line per (network,
batch size) with XLA's FLOP count, the achieved FLOP/s and its ratio to a large float32 matmul
measured right before (comparable across noisy machines where absolute times are not).

With --official DIR (a checkout of github.com/KwaiVGI/LivePortrait): the official PyTorch
wrapper and ours side by side in one process, alternating per network, on identical weights,
float32, batch 1 and the same thread count; prints the processor, both frameworks' versions and
matmul rates, one JSON line per network (both medians, ratio ours / official) and a table.

Weights are random (PyTorch-style init; spectral norm at its power-iteration fixed point):
speed does not depend on their values. Pass --weights to time a converted checkpoint instead.
"""

import argparse
import sys

from lp_jax import errors
from lp_jax import precision as precision_lib
from lp_jax import weights as weights_lib
from lp_jax.bench import forward, machine, official, side_by_side
from lp_jax.models import random_weights
from lp_jax.models import variants as model_configs


def parse(argv):
  parser = argparse.ArgumentParser(prog="python -m lp_jax.bench", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--official", default=None, metavar="DIR",
                      help="official LivePortrait checkout: time it side by side with ours")
  parser.add_argument("--batch_sizes", default="1,4", help="comma-separated batch sizes "
                      "(without --official; side by side runs batch 1, as the official loop)")
  parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement "
                      "(with --official: per framework and round)")
  parser.add_argument("--rounds", type=int, default=4,
                      help="with --official: official / ours alternations per network")
  parser.add_argument("--threads", type=int, default=machine.available_cores(),
                      help="cores for XLA and torch's intra-op threads (default: all cores "
                           "this process may use)")
  parser.add_argument("--networks", default=None,
                      help="subset to time (default F,M,W+G,stitching; with --official F,M,W+G)")
  parser.add_argument("--model_config", default="official", help="configs/models.py variant")
  parser.add_argument("--weights", default=None, help="official folder or converted dir")
  parser.add_argument("--precision", choices=tuple(precision_lib.DTYPES), default=None,
                      help="compute dtype of F, M, W, G without --official (default: "
                           "infer.py's choice for this backend: fp16 on GPU, bf16 on TPU, fp32 "
                           "on CPU); the side-by-side run is float32, as the official CPU path")
  args = parser.parse_args(argv)
  if args.networks is None:
    args.networks = ",".join(side_by_side.NETWORKS) if args.official else "F,M,W+G,stitching"
  if args.official and (args.precision not in (None, "fp32") or args.model_config != "official"):
    parser.error("--official runs the official networks in float32: drop --precision and "
                 "--model_config")
  return args


def main(argv=None) -> int:
  args = parse(argv)
  try:
    # Before anything creates JAX's CPU client, which sizes its thread pool once.
    threads = machine.pin_threads(args.threads)
    if args.official:
      official.check_checkout(args.official)
    config = errors.config_variant(model_configs.get_config, args.model_config)
    if args.weights:
      variables, _ = weights_lib.load_variables(args.weights, config)
    else:
      variables = random_weights.random_networks(config)
    if not args.official:
      return forward.run(args, weights_lib.for_inference(variables), config)
    return side_by_side.run(args, config, variables, threads)
  except errors.UserError as e:  # a bad flag or weights folder, OfficialError
    return errors.report(e)


if __name__ == "__main__":
  sys.exit(main())

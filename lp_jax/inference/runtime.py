# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Where inference runs: the devices (`--device_id`, `--flag_force_cpu`, `--all_devices`) and
JAX's persistent compilation cache."""

import jax

from lp_jax.errors import InputError


def enable_compilation_cache(path: str) -> None:
  """A second run loads its executables from disk instead of compiling them again: every one,
  however fast it compiled and however small it is (even an eager op's program reads back in a
  third of the time it takes to compile on CPU)."""
  if path:
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    # -1: no minimum size, and none that JAX may pick for the cache's file system (0 allows it).
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def select_devices(args) -> list:
  """The devices the networks run on: `--flag_force_cpu`, `--device_id` (official meaning),
  or every local device with `--all_devices`."""
  devices = jax.local_devices(backend="cpu") if args.flag_force_cpu else jax.local_devices()
  if args.all_devices:
    return devices
  if not 0 <= args.device_id < len(devices):
    raise InputError(f"--device_id {args.device_id}: this machine has {len(devices)} "
                     f"{devices[0].platform} device(s) (ids 0-{len(devices) - 1})")
  jax.config.update("jax_default_device", devices[args.device_id])
  return [devices[args.device_id]]

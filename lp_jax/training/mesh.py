# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The device mesh and the sharding rules for parameters, optimizer state and batches.

One mesh, built here from `config.mesh`, a list of (axis name, size) with at most one -1 (the
remaining devices), e.g. [("data", -1), ("fsdp", 1)]. Axes are `AxisType.Auto`: the Linen
models carry no sharding annotations, so XLA propagates shardings from the jit boundaries.

Parameters and optimizer state are sharded by `config.sharding.rules`: a list of (regex over the
'/'-joined leaf path, "fsdp" | "replicate"); the first rule whose regex matches decides. "fsdp"
splits the largest dimension divisible by the fsdp axis size over it (leaves smaller than
`config.sharding.fsdp_min_size` elements stay replicated: gathering a bias costs more than
storing it). The batch is split over every mesh axis jointly ("data" x "fsdp"), so each device
sees distinct examples and fsdp is real ZeRO-3 rather than replicated compute.
"""

import re
from typing import Any

import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from lp_jax.training.errors import ConfigError

BATCH_AXES = ("data", "fsdp")


def mesh_shape(spec, num_devices: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
  """Resolves a [(name, size)] spec with at most one -1 against `num_devices`."""
  names = tuple(str(n) for n, _ in spec)
  sizes = [int(s) for _, s in spec]
  if sizes.count(-1) > 1:
    raise ConfigError(f"mesh {spec}: at most one axis may be -1")
  known = int(np.prod([s for s in sizes if s != -1]))
  if -1 in sizes:
    if num_devices % known:
      raise ConfigError(f"mesh {spec}: {num_devices} devices are not divisible by {known}")
    sizes[sizes.index(-1)] = num_devices // known
  if int(np.prod(sizes)) != num_devices:
    raise ConfigError(f"mesh {spec} needs {int(np.prod(sizes))} devices, have {num_devices}")
  return names, tuple(sizes)


def create_mesh(config, devices=None) -> Mesh:
  """The training mesh of `config.mesh` over `devices` (default: all global devices)."""
  devices = jax.devices() if devices is None else list(devices)
  names, sizes = mesh_shape(config.mesh, len(devices))
  try:  # topology-aware placement on TPU/GPU slices; plain reshape where that is unsupported
    grid = mesh_utils.create_device_mesh(sizes, devices=devices, allow_split_physical_axes=True)
  except (ValueError, NotImplementedError, AssertionError):
    grid = np.asarray(devices).reshape(sizes)
  return Mesh(grid, names, axis_types=(AxisType.Auto,) * len(names))


def batch_axes(mesh: Mesh) -> tuple[str, ...]:
  return tuple(a for a in BATCH_AXES if a in mesh.axis_names)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) dimension over data x fsdp; the rest replicated."""
  return NamedSharding(mesh, P(batch_axes(mesh)))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_shards(mesh: Mesh) -> int:
  """How many ways the batch is split: the product of the batch axes' sizes."""
  return int(np.prod([mesh.shape[a] for a in batch_axes(mesh)]))


def leaf_spec(path: str, shape: tuple[int, ...], mesh: Mesh, sharding_config) -> P:
  """The PartitionSpec the rules give one leaf."""
  fsdp = mesh.shape.get("fsdp", 1)
  action = "replicate"
  for pattern, act in sharding_config.rules:
    if re.search(pattern, path):
      action = act
      break
  if action not in ("fsdp", "replicate"):
    raise ConfigError(f"sharding rule action {action!r} (expected 'fsdp' or 'replicate')")
  if action == "replicate" or fsdp == 1 or int(np.prod(shape)) < sharding_config.fsdp_min_size:
    return P()
  # The largest divisible dimension: for conv kernels [kh, kw, I, O] that is I or O, so each
  # device holds whole filters' slices and the all-gather is one contiguous block per leaf.
  dims = sorted(range(len(shape)), key=lambda i: (-shape[i], -i))
  for i in dims:
    if shape[i] % fsdp == 0:
      spec = [None] * len(shape)
      spec[i] = "fsdp"
      return P(*spec)
  return P()


def state_shardings(abstract_tree: Any, mesh: Mesh, sharding_config) -> Any:
  """NamedShardings for every leaf of an (abstract) state tree, by the config's rules."""
  def one(path, leaf):
    shape = tuple(getattr(leaf, "shape", ()))
    name = jax.tree_util.keystr(path, simple=True, separator="/")
    return NamedSharding(mesh, leaf_spec(name, shape, mesh, sharding_config))
  return jax.tree_util.tree_map_with_path(one, abstract_tree)


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
  """Per-process numpy batch -> global jax.Arrays sharded over the batch axes."""
  sharding = batch_sharding(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
                      local_batch)

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Upstream auxiliary-network checkpoints -> lp_jax Orbax directories (Stage I training).

  python -m convert_weights --aux vgg19 --src vgg19-dcbb9e9d.pth --dst weights/vgg19
  python -m convert_weights --aux hopenet --src hopenet_robust_alpha1.pkl --dst weights/hopenet
  python -m convert_weights --aux arcface --src backbone.pth --dst weights/arcface \
      [--aux_config arcface=r50]

Sources: torchvision's `vgg19()` state dict (only `features.*` up to relu5_1 is used; the
classifier and the convolutions after relu5_1 are dropped), deep-head-pose's HopeNet state
dict (its vestigial `fc_finetune` is dropped), insightface arcface_torch's IResNet
`backbone.pth`. Both torch.save containers are read without torch and without running pickle
code: the zip format by `torch_pickle.load_pth`, and the legacy (pre-1.6) stream, which older
files such as the 2017 torchvision VGG and 2018 HopeNet ones use, by `load_legacy` below on the
same allow-listed unpickler.

Rules (torch key -> Flax path): the shared `rules.torch_key_to_flax` (module names equal the
torch attribute names; conv OIHW -> HWIO, linear .T, norm weight -> scale, running stats ->
`batch_stats`, num_batches_tracked dropped) plus PReLU `prelu.weight` -> `prelu/negative_slope`.
Every problem (missing / unexpected key, wrong shape, unreadable file) is one line.
"""

import datetime
import io
import os
import pickle
import pickletools
import re
import struct
import typing

import numpy as np
from flax import traverse_util

from convert_weights import rules, torch_pickle
from convert_weights.convert import (ConversionError, _torch_shape, param_count, sha256,
                                     strip_ddp)

FORMAT = "lp_jax.auxiliary"
CONVERTER_VERSION = "1"
KINDS = ("vgg19", "hopenet", "arcface")
SOURCE_HINTS = {
    "vgg19": "torchvision's vgg19-dcbb9e9d.pth (torchvision.models.vgg19(weights='IMAGENET1K_V1'))",
    "hopenet": "hopenet_robust_alpha1.pkl from github.com/natanielruiz/deep-head-pose",
    "arcface": "an insightface arcface_torch backbone.pth (iresnet50 / iresnet100)",
}
_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
_LEGACY_PROTOCOL = 1001


def dropped_key(kind: str, key: str, aux_config) -> bool:
  """Keys of the upstream file that the lp_jax module deliberately does not have."""
  if key.endswith(".num_batches_tracked"):
    return True  # BatchNorm bookkeeping, unused by the math
  if kind == "vgg19":
    from lp_jax.models.auxiliary import vgg19  # pylint: disable=g-import-not-at-top
    if key.startswith("classifier."):
      return True  # the ImageNet head; the loss uses features only
    m = re.fullmatch(r"features\.(\d+)\.(weight|bias)", key)
    # Convolutions after relu5_1 (features.30/32/34) do not influence the five outputs.
    return bool(m) and int(m.group(1)) > max(vgg19.conv_indices(aux_config.vgg19.widths))
  if kind == "hopenet":
    return key.startswith("fc_finetune.")  # "vestigial layer from previous experiments"
  return False


def torch_key_to_flax(key: str, ndim: int) -> tuple[str, tuple[str, ...], str]:
  """(collection, Flax path incl. leaf, layout) of a kept key; rules.UnknownKeyError if none."""
  path, leaf = rules.module_path(key)
  if path and path[-1] == "prelu" and leaf == "weight":
    return "params", path + ("negative_slope",), "same"
  mapped = rules.torch_key_to_flax(key, ndim)
  if mapped is None:  # a dropped leaf that dropped_key did not catch
    raise rules.UnknownKeyError(key)
  return mapped


def flax_to_torch_key(target: tuple[str, ...], ndim: int) -> tuple[str, str]:
  """Inverse of `torch_key_to_flax`, for naming missing keys."""
  collection, *path = target
  if path[-1] == "negative_slope":
    return ".".join(path[:-1] + ["weight"]), "same"
  return rules.flax_to_torch_key(collection, tuple(path), ndim, set())


def state_dict_to_variables(kind: str, state_dict: dict, aux_config, label: str
                            ) -> tuple[dict, dict, list[str]]:
  """Maps an upstream state dict onto the Flax variables of `aux_config[kind]`.

  Returns (variables, info, problems): info lists the kept key order and the dropped keys;
  problems has one line per missing / unexpected key or wrong shape.
  """
  from lp_jax.models import auxiliary  # pylint: disable=g-import-not-at-top

  expected = traverse_util.flatten_dict(auxiliary.abstract_variables(kind, aux_config))
  flat, seen, problems = {}, set(), []
  info = {"key_order": [], "dropped_keys": [], "module_prefix": False}
  for raw_key, value in state_dict.items():
    if not isinstance(raw_key, str):
      problems.append(f"{label}: non-string key {raw_key!r:.80}")
      continue
    key = strip_ddp(raw_key)
    info["module_prefix"] |= key != raw_key
    if not isinstance(value, np.ndarray):
      problems.append(f"{label}: {raw_key}: not a tensor ({type(value).__name__})")
      continue
    if dropped_key(kind, key, aux_config):
      info["dropped_keys"].append(key)
      continue
    try:
      collection, path, layout = torch_key_to_flax(key, value.ndim)
    except rules.UnknownKeyError:
      problems.append(f"{label}: unexpected key {raw_key} {tuple(value.shape)}")
      continue
    target = (collection,) + path
    if target not in expected:
      problems.append(f"{label}: unexpected key {raw_key} {tuple(value.shape)}")
      continue
    seen.add(target)
    want = _torch_shape(expected[target].shape, layout)
    if want != tuple(value.shape):
      problems.append(f"{label}: {raw_key}: expected shape {want}, got {tuple(value.shape)}")
      continue
    if not np.issubdtype(value.dtype, np.floating):
      problems.append(f"{label}: {raw_key}: expected a float tensor, got {value.dtype}")
      continue
    info["key_order"].append(key)
    flat[target] = rules.to_flax_layout(value.astype(np.float32, copy=False), layout)
  for target, leaf in expected.items():
    if target not in seen:
      key, layout = flax_to_torch_key(target, len(leaf.shape))
      problems.append(f"{label}: missing key {key} (expected shape "
                      f"{_torch_shape(leaf.shape, layout)})")
  return traverse_util.unflatten_dict(flat), info, problems


def _file_layers(state_dict: dict) -> tuple[int, ...] | None:
  """Blocks per stage of a ResNet-style state dict, from its `layerK.N.` keys."""
  depth = {}
  for key in state_dict:
    m = re.match(r"(?:module\.)?layer(\d)\.(\d+)\.", str(key))
    if m:
      stage, block = int(m.group(1)), int(m.group(2))
      depth[stage] = max(depth.get(stage, 0), block + 1)
  return tuple(depth[k] for k in sorted(depth)) if depth else None


def read_checkpoint(path: str) -> typing.Any:
  """The object saved in a torch file (zip or legacy format), tensors as numpy arrays."""
  try:
    with open(path, "rb") as f:
      head = f.read(4)
  except OSError:
    head = b""  # load_pth reports the exact reason (missing, a directory, unreadable)
  if head == torch_pickle._LEGACY_MAGIC:  # pylint: disable=protected-access
    return load_legacy(path)
  return torch_pickle.load_pth(path)


def convert_aux(kind: str, src: str, aux_config) -> tuple[dict, dict]:
  """Reads one upstream checkpoint into (variables, manifest); nothing is written.

  Raises ConversionError listing every problem.
  """
  if kind not in KINDS:
    raise ConversionError(f"unknown auxiliary network {kind!r} (use {', '.join(KINDS)})")
  try:
    obj = read_checkpoint(src)
  except torch_pickle.CheckpointError as e:
    raise ConversionError(str(e), [str(e)]) from None
  if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
    obj = obj["state_dict"]  # a training checkpoint that wraps the weights
  if not isinstance(obj, dict):
    msg = f"{src}: expected a state_dict, got {type(obj).__name__} ({SOURCE_HINTS[kind]})"
    raise ConversionError(msg, [msg])
  variables, info, problems = state_dict_to_variables(kind, obj, aux_config, src)
  if problems and kind in ("hopenet", "arcface"):
    depth = _file_layers(obj)
    if depth and depth != tuple(aux_config[kind].layers):
      hint = " (pass --aux_config arcface=r50 / r100 ...)" if kind == "arcface" else ""
      problems.insert(0, f"{src}: the file has {kind} blocks per stage {depth}, the config "
                         f"{tuple(aux_config[kind].layers)}: set aux.{kind}.layers{hint}")
    raise ConversionError(f"{len(problems)} problem(s) converting {src} as {kind}; first: "
                          f"{problems[0]}", problems)
  manifest = {
      "format": FORMAT,
      "kind": kind,
      "converter_version": CONVERTER_VERSION,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "source": os.path.abspath(src),
      "sha256": sha256(src),
      "bytes": os.path.getsize(src),
      "config": {k: list(v) if isinstance(v, tuple) else v
                 for k, v in dict(aux_config[kind]).items()},
      "param_count": param_count(variables),
      **info,
  }
  return variables, manifest


# --- legacy (pre-1.6) torch.save stream ----------------------------------------------------------
# Layout: pickle(magic) pickle(protocol) pickle(sys_info) pickle(obj) pickle(sorted storage keys),
# then per key: int64 little-endian element count and the raw little-endian elements. Tensors in
# `obj` refer to storages that only appear after it, so they are built in a second pass.


# The zip reader's private pieces are reused on purpose: one allow-list and one bounds-checked
# array builder for both container formats.
_Storage = torch_pickle._Storage  # pylint: disable=protected-access


class _Deferred(typing.NamedTuple):
  """A tensor whose storage bytes follow the pickle: (storage key, offset, size, stride)."""
  key: str
  offset: typing.Any
  size: typing.Any
  stride: typing.Any


class _StorageRef(typing.NamedTuple):
  key: str
  dtype: np.dtype
  numel: int


class _NoGlobals(pickle.Unpickler):
  """For the header pickles and the key list: plain Python data only."""

  def __init__(self, file, path: str):
    super().__init__(file, encoding="utf-8")
    self.path = path

  def find_class(self, module, name):
    raise torch_pickle.UnsafePickleError(self.path, f"refused to unpickle global "
                                                    f"'{module}.{name}' in a header pickle")


class _LegacyUnpickler(torch_pickle._Unpickler):  # pylint: disable=protected-access
  """The zip reader's allow-listed unpickler with legacy persistent ids and deferred tensors."""

  def __init__(self, data: bytes, path: str):
    super().__init__(data, path, archive=None, prefix="", big_endian=False)
    self.storages: dict[str, _StorageRef] = {}

  def persistent_load(self, pid):
    """('storage', storage_type, key, location, numel, view_metadata) -> a storage reference."""
    if not isinstance(pid, tuple) or len(pid) != 6 or pid[0] != "storage":
      raise self._fail(f"unsupported legacy persistent id {pid!r:.80}")
    _, storage_type, key, _, numel, view = pid
    if not isinstance(storage_type, torch_pickle._StorageType):  # pylint: disable=protected-access
      raise self._fail(f"unknown storage type {storage_type!r:.80}")
    if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
      raise self._fail(f"malformed storage persistent id {pid!r:.80}")
    if view is not None:
      raise self._fail("storage views (torch < 0.4 files) are not supported; re-save the file")
    ref = _StorageRef(key, storage_type.dtype, numel)
    if self.storages.setdefault(key, ref) != ref:
      raise self._fail(f"storage {key!r} is declared twice with different types or sizes")
    return ref

  def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, *unused):
    del unused
    return self._defer(storage, storage_offset, size, stride)

  def _rebuild_tensor(self, storage, storage_offset, size, stride):
    return self._defer(storage, storage_offset, size, stride)

  def _rebuild_tensor_v3(self, *args):
    raise self._fail("_rebuild_tensor_v3 in a legacy file")

  def _rebuild_parameter(self, data, *unused):
    del unused
    if not isinstance(data, _Deferred):
      raise self._fail(f"parameter data is not a tensor but {type(data).__name__}")
    return data

  def _defer(self, storage, offset, size, stride):
    if not isinstance(storage, _StorageRef):
      raise self._fail(f"tensor storage is not a storage but {type(storage).__name__}")
    return _Deferred(storage.key, offset, size, stride)

  def resolve(self, obj, storages: dict, depth: int = 0):
    """Replaces every deferred tensor in dicts / lists / tuples by its numpy array."""
    if depth > 100:
      raise self._fail("saved object is nested too deeply")
    if isinstance(obj, _Deferred):
      return self._make_array(storages[obj.key], obj.offset, obj.size, obj.stride, None)
    if isinstance(obj, dict):
      for k in list(obj):
        obj[k] = self.resolve(obj[k], storages, depth + 1)
      return obj
    if isinstance(obj, list):
      return [self.resolve(v, storages, depth + 1) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
      return tuple(self.resolve(v, storages, depth + 1) for v in obj)
    return obj


def _pickle_end(f, start: int) -> int:
  """File offset just past the pickle at `start` (opcodes are parsed, never run)."""
  f.seek(start)
  for opcode, _, pos in pickletools.genops(f):  # pos: absolute, genops uses f.tell()
    if opcode.name == "STOP":
      return pos + 1
  raise EOFError(f"pickle at offset {start} has no STOP opcode")


def _read(f, start: int, end: int) -> bytes:
  f.seek(start)
  data = f.read(end - start)
  if len(data) != end - start:
    raise EOFError(f"file ends at {start + len(data)}, expected {end} bytes")
  return data


def _load_plain(f, start: int, end: int, path: str):
  return _NoGlobals(io.BytesIO(_read(f, start, end)), path).load()


def load_legacy(path: str) -> typing.Any:
  """Loads a legacy-format torch.save file like `torch_pickle.load_pth` loads a zip one.

  Raises:
    torch_pickle.UnsafePickleError / CheckpointError: one line naming `path`.
  """
  try:
    with open(path, "rb") as f:
      size = os.fstat(f.fileno()).st_size
      pos, header = 0, []
      for _ in range(3):  # magic number, protocol version, sys_info
        end = _pickle_end(f, pos)
        header.append(_load_plain(f, pos, end, path))
        pos = end
      magic, protocol, sys_info = header
      if magic != _LEGACY_MAGIC_NUMBER or protocol != _LEGACY_PROTOCOL:
        raise torch_pickle.CheckpointError(path, f"not a legacy torch file (magic {magic!r:.40}, "
                                                 f"protocol {protocol!r:.40})")
      if not isinstance(sys_info, dict) or not sys_info.get("little_endian", True):
        raise torch_pickle.CheckpointError(path, "big-endian legacy torch files are not supported")
      end = _pickle_end(f, pos)
      unpickler = _LegacyUnpickler(_read(f, pos, end), path)
      obj = unpickler.load()
      pos, end = end, _pickle_end(f, end)
      keys = _load_plain(f, pos, end, path)
      pos = end
      if not isinstance(keys, list) or set(keys) != set(unpickler.storages):
        raise torch_pickle.CheckpointError(path, "storage key list does not match the tensors")
      storages = {}
      for key in keys:
        ref = unpickler.storages[key]
        (numel,) = struct.unpack("<q", _read(f, pos, pos + 8))
        nbytes = ref.numel * ref.dtype.itemsize
        if numel != ref.numel or pos + 8 + nbytes > size:
          raise torch_pickle.CheckpointError(
              path, f"storage {key!r} is truncated or has {numel} elements, expected {ref.numel}")
        raw = _read(f, pos + 8, pos + 8 + nbytes)
        storages[key] = _Storage(key, ref.dtype, ref.numel, raw)
        pos += 8 + nbytes
      return unpickler.resolve(obj, storages)
  except torch_pickle.CheckpointError:
    raise
  except RecursionError:
    raise torch_pickle.CheckpointError(path, "pickle is nested too deeply") from None
  except Exception as e:  # pylint: disable=broad-except
    # Untrusted input: whatever the parser trips over is a corrupt file, not a bug here.
    raise torch_pickle.CheckpointError(path, f"corrupt legacy torch file "
                                             f"({type(e).__name__}: {e})") from e


def main(args) -> int:
  """`python -m convert_weights --aux KIND --src FILE --dst DIR [--aux_config ARG] [--force]`."""
  import sys  # pylint: disable=g-import-not-at-top

  from configs import auxiliary as aux_configs  # pylint: disable=g-import-not-at-top
  from convert_weights import convert  # pylint: disable=g-import-not-at-top

  try:
    convert.check_destination(os.path.abspath(args.dst), args.force)  # before any work
    aux_config = aux_configs.get_config(args.aux_config)
    variables, manifest = convert_aux(args.aux, args.src, aux_config)
    manifest["aux_config"] = args.aux_config
    convert.save_orbax(args.dst, {args.aux: variables}, manifest, force=args.force)
  except ConversionError as e:
    for line in e.problems or [str(e)]:
      print(f"error: {line}", file=sys.stderr)
    if len(e.problems) > 1:
      print(f"error: {len(e.problems)} problems; nothing was written", file=sys.stderr)
    return 1
  except ValueError as e:  # a bad --aux_config
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(f"{args.aux}: {manifest['param_count']:,} parameters from {args.src} "
        f"({len(manifest['dropped_keys'])} unused keys dropped)")
  print(f"wrote {os.path.join(args.dst, convert.CHECKPOINT)} and "
        f"{os.path.join(args.dst, convert.MANIFEST)}")
  return 0

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Tests of the official-checkpoint converter (`python -m convert_weights`) and its rule table.

The official folder is written once per session (conftest's `converted_golden_weights`, which also
converts it with torch unimportable); tests that need a variant hard-link it into a new folder and
replace only the files they change, so no test re-runs the slow recipe or copies 500 MB.
"""

import collections
import hashlib
import json
import os
import shlex
import shutil

import numpy as np
import pytest
from flax import traverse_util

from conftest import GOLDEN_DIR, recipe, run_converter
from lp_jax import weights
from lp_jax.weights import key_rules, manifest as manifest_lib
from lp_jax.weights import official as official_lib, orbax_dir as orbax_lib

pytestmark = pytest.mark.torch

# Parameter counts of the released networks (the `params` collection only).
OFFICIAL_PARAM_COUNTS = {
    "appearance_feature_extractor": 836224,
    "motion_extractor": 28118728,
    "warping_module": 45529829,
    "spade_generator": 55365388,
    "stitching": 45249,
    "lip": 37311,
    "eye": 144703,
}
BASE = "base_models"
RETARGET_REL = os.path.join("retargeting_models", "stitching_retargeting_module.pth")
OFFICIAL_FILES = [os.path.join(BASE, f) for f in official_lib.BASE_FILES.values()] + [RETARGET_REL]
KEYS_TSV = os.path.join(GOLDEN_DIR, "state_dict_keys.tsv")


def _torch():
  return pytest.importorskip("torch")


def _sha256(path) -> str:
  with open(path, "rb") as f:
    return hashlib.file_digest(f, "sha256").hexdigest()


def _link_tree(src, dst) -> str:
  """Copies a folder by hard links (falling back to copies across file systems).

  Linked files share their bytes with the session's official folder, so a test must change a
  file only through `_replace`, which unlinks it first.
  """
  def link(s, d):
    try:
      os.link(s, d)
    except OSError:
      shutil.copy2(s, d)
  shutil.copytree(src, dst, copy_function=link)
  return str(dst)


def _replace(path, write) -> None:
  """Writes a new file at `path` with `write(path)`, never through a shared hard link."""
  os.remove(path)
  write(path)


def _edit_state_dict(path, edit) -> None:
  """Loads the .pth at `path` with torch, applies `edit` to it and saves it back in its place."""
  torch = _torch()
  obj = torch.load(path)
  edit(obj)
  _replace(path, lambda p: torch.save(obj, p))


def _error_line(stderr: str, *parts: str) -> str:
  """The one stderr line that holds every part (each problem is reported on its own line)."""
  lines = [line for line in stderr.splitlines() if all(p in line for p in parts)]
  assert lines, f"no stderr line with {parts}:\n{stderr}"
  return lines[0]


def _assert_refused(proc, dst) -> None:
  """Nonzero exit and nothing written: neither --dst nor a temp folder beside it."""
  assert proc.returncode != 0, proc.stdout + proc.stderr
  assert not os.path.exists(dst)
  assert os.listdir(os.path.dirname(dst)) == [], "the converter left files beside --dst"
  assert proc.stdout == ""


def _assert_same_objects(want, got, where: str) -> None:
  """Bit-exact equality of two torch.load results: dicts (key order too) of tensors."""
  torch = _torch()
  if isinstance(want, dict):
    assert type(got) is type(want), where  # OrderedDict or dict: pickled differently
    assert list(got) == list(want), where
    for key in want:
      _assert_same_objects(want[key], got[key], f"{where}[{key}]")
    return
  assert isinstance(want, torch.Tensor) and isinstance(got, torch.Tensor), where
  assert (got.dtype, tuple(got.shape)) == (want.dtype, tuple(want.shape)), where
  # torch.equal says -0.0 == 0.0; equal integer views compare the bits themselves.
  int_type = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
  bits = lambda t: t.contiguous().view(int_type[t.element_size()])
  assert torch.equal(bits(got), bits(want)), where


def _assert_round_trip(official, exported, files) -> None:
  """Every tensor of `files` matches between the two folders, and so do the files' bytes."""
  torch = _torch()
  # Nothing but the official files, in their official places (no temp files left behind).
  written = sorted(os.path.relpath(os.path.join(d, f), exported)
                   for d, _, fs in os.walk(exported) for f in fs)
  assert written == sorted(files)
  for rel in files:
    _assert_same_objects(torch.load(os.path.join(official, rel)),
                         torch.load(os.path.join(exported, rel)), rel)
  # Both sides were written by torch.save of this torch, so the files must be byte-identical
  # too: that also pins what tensor equality cannot see (pickled strides, the zip's inner name).
  for rel in files:
    assert _sha256(os.path.join(exported, rel)) == _sha256(os.path.join(official, rel)), rel


@pytest.fixture(scope="module")
def official(converted_golden_weights):
  """The session's official folder (written once, already converted): never modify it."""
  return converted_golden_weights[0]


@pytest.fixture(scope="module")
def orbax_dir(converted_golden_weights):
  return converted_golden_weights[1]


@pytest.fixture(scope="module")
def animals(official, tmp_path_factory):
  """`liveportrait_animals/` as downloaded, reduced to its four base models (no retargeting)."""
  root = tmp_path_factory.mktemp("animals") / "liveportrait_animals"
  _link_tree(os.path.join(official, BASE), root / "base_models_v1.1")
  return str(root)


@pytest.fixture
def out_dir(tmp_path):
  """A --dst inside an empty folder, so that anything written beside it shows up."""
  (tmp_path / "out").mkdir()
  return str(tmp_path / "out" / "lp_jax")


# 1. Conversion without torch, and the manifest.


@pytest.mark.slow
def test_manifest_of_cli_conversion_without_torch(official, orbax_dir):
  # conftest converted `official` with `import torch` failing in the converter process.
  with open(os.path.join(orbax_dir, orbax_lib.MANIFEST)) as f:
    manifest = json.load(f)
  assert manifest["converter_version"] == manifest_lib.CONVERTER_VERSION
  assert manifest["base_dir"] == BASE
  assert sorted(manifest["files"]) == sorted(OFFICIAL_FILES)
  for rel, rec in manifest["files"].items():
    path = os.path.join(official, rel)
    assert rec["sha256"] == _sha256(path), rel
    assert rec["bytes"] == os.path.getsize(path), rel
  nets = manifest["networks"]
  assert {name: net["param_count"] for name, net in nets.items()} == OFFICIAL_PARAM_COUNTS
  for name, group in official_lib.RETARGETING_GROUPS.items():
    assert (nets[name]["file"], nets[name]["group"]) == (RETARGET_REL, group)
  assert sorted(os.listdir(orbax_dir)) == sorted([orbax_lib.CHECKPOINT, orbax_lib.MANIFEST])


def test_blocked_torch_is_really_unimportable(tmp_path):
  # Export imports torch before anything else: under block_torch it must fail, which shows that
  # conversions run the same way (conftest's included) really run without torch.
  proc = run_converter("--export", "--src", str(tmp_path / "lp_jax"), "--dst",
                       str(tmp_path / "x"), block_torch=True)
  assert proc.returncode != 0
  assert "needs torch" in _error_line(proc.stderr, "pip install torch")
  assert os.listdir(tmp_path) == []


# 2. Refusals: nonzero exit, every problem on its own stderr line, nothing written.


class _RunsShell:
  """Unpickles to a call of os.system: what a hostile checkpoint looks like."""

  def __init__(self, marker):
    self.marker = str(marker)

  def __reduce__(self):
    return os.system, (f"touch {shlex.quote(self.marker)}",)


@pytest.mark.slow
def test_refuses_malicious_and_truncated_files(official, out_dir, tmp_path):
  torch = _torch()
  src = _link_tree(official, tmp_path / "src")
  marker = tmp_path / "pwned"
  # The same payload really runs code when unpickled by torch's full unpickler; otherwise the
  # marker check below could pass vacuously.
  live = tmp_path / "live.pth"
  torch.save({"x": _RunsShell(tmp_path / "live_marker")}, live)
  torch.load(live, weights_only=False)
  assert (tmp_path / "live_marker").exists()

  warping = os.path.join(src, BASE, "warping_module.pth")
  _replace(warping, lambda p: torch.save({"first.conv.weight": _RunsShell(marker)}, p))
  spade = os.path.join(src, BASE, "spade_generator.pth")
  with open(spade, "rb") as f:
    head = f.read(os.path.getsize(spade) // 2)

  def write_head(path):
    with open(path, "wb") as f:
      f.write(head)
  _replace(spade, write_head)

  proc = run_converter("--src", src, "--dst", out_dir, block_torch=True)

  _assert_refused(proc, out_dir)
  assert not marker.exists()
  assert "refused" in _error_line(proc.stderr, warping, f"{os.system.__module__}.system")
  assert "truncated" in _error_line(proc.stderr, spade)


@pytest.mark.slow
def test_refuses_wrong_shape_missing_and_unexpected_keys(official, out_dir, tmp_path):
  torch = _torch()
  src = _link_tree(official, tmp_path / "src")
  paths = {name: os.path.join(src, BASE, f) for name, f in official_lib.BASE_FILES.items()}
  retarget = os.path.join(src, RETARGET_REL)

  def wrong_shape(sd):
    sd["first.conv.weight"] = torch.zeros(64, 3, 5, 5)

  def extra_keys(sd):
    sd["first.conv.scale_factor"] = torch.zeros(64)  # a leaf name no rule knows
    sd["no_such_block.conv.weight"] = torch.zeros(8, 8, 3, 3)  # a known leaf, no such module

  _edit_state_dict(paths["appearance_feature_extractor"], wrong_shape)
  _edit_state_dict(paths["motion_extractor"], lambda sd: sd.pop("detector.fc_kp.bias"))
  _edit_state_dict(paths["warping_module"], extra_keys)
  _edit_state_dict(retarget, lambda groups: groups["retarget_mouth"].__setitem__(
      "module.mlp.8.weight", torch.zeros(63, 63)))

  proc = run_converter("--src", src, "--dst", out_dir, block_torch=True)

  _assert_refused(proc, out_dir)
  _error_line(proc.stderr, paths["appearance_feature_extractor"], "first.conv.weight",
              "expected shape (64, 3, 3, 3)", "(64, 3, 5, 5)")
  _error_line(proc.stderr, paths["motion_extractor"], "missing key detector.fc_kp.bias", "(63,)")
  _error_line(proc.stderr, paths["warping_module"], "unexpected key first.conv.scale_factor")
  _error_line(proc.stderr, paths["warping_module"], "unexpected key no_such_block.conv.weight")
  _error_line(proc.stderr, f"{retarget}[retarget_mouth]", "unexpected key module.mlp.8.weight")
  # Exactly those five problems and the summary line: nothing else in the files is wrong.
  assert len(proc.stderr.strip().splitlines()) == 6, proc.stderr
  assert "5 problems; nothing was written" in proc.stderr


def test_refuses_missing_base_model(out_dir, tmp_path):
  # The folder is checked for all four base models before any is read, so empty files do.
  src = tmp_path / "src"
  (src / BASE).mkdir(parents=True)
  for file in official_lib.BASE_FILES.values():
    (src / BASE / file).touch()
  missing = str(src / BASE / "warping_module.pth")
  os.remove(missing)
  src = str(src)

  proc = run_converter("--src", src, "--dst", out_dir, block_torch=True)

  _assert_refused(proc, out_dir)
  line = _error_line(proc.stderr, missing)
  assert "huggingface-cli download KwaiVGI/LivePortrait" in line


@pytest.mark.parametrize("kind", ["missing", "file", "empty_dir"])
def test_refuses_src_that_is_not_an_official_folder(kind, out_dir, tmp_path):
  src = tmp_path / "pretrained_weights"
  if kind == "file":
    src.write_text("not a folder")
  elif kind == "empty_dir":
    src.mkdir()

  proc = run_converter("--src", str(src), "--dst", out_dir, block_torch=True)

  _assert_refused(proc, out_dir)
  line = _error_line(proc.stderr, str(src))
  assert "huggingface-cli download KwaiVGI/LivePortrait" in line
  assert ("no base_models/" in line) == (kind == "empty_dir")


@pytest.mark.slow
def test_refuses_non_empty_dst_without_force(animals, tmp_path):
  dst = tmp_path / "lp_jax"
  dst.mkdir()
  (dst / "keep.txt").write_text("mine")

  proc = run_converter("--src", animals, "--dst", str(dst), block_torch=True)

  assert proc.returncode != 0
  assert "--force" in _error_line(proc.stderr, str(dst), "already exists")
  assert os.listdir(dst) == ["keep.txt"] and (dst / "keep.txt").read_text() == "mine"
  assert sorted(os.listdir(tmp_path)) == ["lp_jax"]  # no temp folder left beside it


# 3-5. Export back to the official layout, bit for bit.


@pytest.mark.slow
def test_export_round_trip_is_bit_exact(official, orbax_dir, golden, tmp_path):
  dst = str(tmp_path / "liveportrait")
  proc = run_converter("--export", "--src", orbax_dir, "--dst", dst)
  assert proc.returncode == 0, proc.stderr

  _assert_round_trip(official, dst, OFFICIAL_FILES)
  # What the round trip had to carry: BatchNorm counters and the groups with their DDP prefixes
  # (the public golden's are "module."-prefixed; LP_GOLDEN may name one without).
  torch = _torch()
  groups = torch.load(os.path.join(dst, RETARGET_REL))
  assert list(groups) == list(official_lib.RETARGETING_GROUPS.values())
  prefixed = {k.startswith("module.") for sd in groups.values() for k in sd}
  assert prefixed == {bool(golden["meta/module_prefix"])}
  afe = torch.load(os.path.join(dst, BASE, "appearance_feature_extractor.pth"))
  assert any(k.endswith(".num_batches_tracked") for k in afe)


@pytest.mark.slow
def test_module_prefix_false_round_trip(official, tmp_path):
  """A folder unlike the golden one in all that export must remember: no `module.` prefix on the
  retargeting keys (another seed), and 0-d nonzero BatchNorm counters."""
  torch = _torch()
  src = _link_tree(official, tmp_path / "official")
  # The recipe's retargeting tensors for seed 1, laid out like write_official_checkpoints(
  # module_prefix=False): only this file, since the base models' spectral-norm SVDs take ~40 s.
  keys = tmp_path / "retargeting_keys.tsv"
  with open(KEYS_TSV) as f:
    lines = f.readlines()
  keys.write_text("".join(lines[:1] + [row for row in lines if row.startswith(
      "stitching_retargeting_module.pth\t")]))
  synth = recipe().synth_checkpoints(1, keys_tsv=str(keys))["stitching_retargeting_module.pth"]
  groups = {}  # a plain dict of OrderedDicts, as the recipe (and LivePortrait) saves it
  for key, array in synth.items():
    group, inner = key.split("/", 1)
    groups.setdefault(group, collections.OrderedDict())[inner.removeprefix("module.")] = (
        torch.from_numpy(array))
  _replace(os.path.join(src, RETARGET_REL), lambda p: torch.save(groups, p))

  def count_batches(sd):
    nbt = [k for k in sd if k.endswith(".num_batches_tracked")]
    assert nbt
    for i, k in enumerate(nbt):
      # 0-d like BatchNorm's own counters (the recipe's are (1,)), and nonzero: export writes 0
      # for a counter the manifest lacks.
      sd[k] = torch.tensor(1000 + i)
  _edit_state_dict(os.path.join(src, BASE, "appearance_feature_extractor.pth"), count_batches)

  orbax = str(tmp_path / "lp_jax")
  proc = run_converter("--src", src, "--dst", orbax, block_torch=True)
  assert proc.returncode == 0, proc.stderr
  exported = str(tmp_path / "exported")
  proc = run_converter("--export", "--src", orbax, "--dst", exported)
  assert proc.returncode == 0, proc.stderr

  _assert_round_trip(src, exported, OFFICIAL_FILES)
  assert not any(k.startswith("module.") for sd in torch.load(
      os.path.join(exported, RETARGET_REL)).values() for k in sd)


@pytest.mark.slow
def test_animals_layout_round_trip(animals, tmp_path):
  orbax = str(tmp_path / "lp_jax")
  proc = run_converter("--src", animals, "--dst", orbax, block_torch=True)
  assert proc.returncode == 0, proc.stderr
  with open(os.path.join(orbax, orbax_lib.MANIFEST)) as f:
    manifest = json.load(f)
  assert manifest["base_dir"] == "base_models_v1.1"
  assert sorted(manifest["networks"]) == sorted(official_lib.BASE_FILES)
  assert sorted(manifest["files"]) == sorted(
      os.path.join("base_models_v1.1", f) for f in official_lib.BASE_FILES.values())

  exported = str(tmp_path / "exported")
  proc = run_converter("--export", "--src", orbax, "--dst", exported)
  assert proc.returncode == 0, proc.stderr
  _assert_round_trip(animals, exported, sorted(manifest["files"]))


# 7. The Python API.


@pytest.mark.slow
def test_load_variables_official_equals_orbax(official, orbax_dir):

  in_memory, manifest_a = weights.load_variables(official)
  restored, manifest_b = weights.load_variables(orbax_dir)

  assert manifest_a["networks"] == manifest_b["networks"]
  flat_a = traverse_util.flatten_dict(in_memory)
  flat_b = traverse_util.flatten_dict(restored)
  assert sorted(flat_a) == sorted(flat_b)
  assert {k[0] for k in flat_a} == set(OFFICIAL_PARAM_COUNTS)
  for key, a in flat_a.items():
    b = flat_b[key]
    assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), key
    assert (a.dtype, a.shape) == (b.dtype, b.shape), key
    assert a.tobytes() == b.tobytes(), key


def test_load_variables_missing_path(tmp_path):

  missing = str(tmp_path / "pretrained_weights" / "liveportrait")
  with pytest.raises(FileNotFoundError) as excinfo:
    weights.load_variables(missing)
  message = str(excinfo.value)
  assert "\n" not in message
  assert missing in message
  assert "huggingface-cli download KwaiVGI/LivePortrait" in message


# 8. The rule table, on every key of the official checkpoints.


def _official_keys():
  """[(file, PyTorch key without group / DDP prefix, shape)] from state_dict_keys.tsv."""
  rows = []
  with open(KEYS_TSV) as f:
    assert next(f).split() == ["file", "key", "shape", "dtype"]
    for line in f:
      file, key, shape, _ = line.rstrip("\n").split("\t")
      if "/" in key:  # "<group>/module.mlp.N.weight" in the retargeting file
        group, key = key.split("/", 1)
        file, key = f"{file}[{group}]", key.removeprefix("module.")
      rows.append((file, key, tuple(int(d) for d in shape.split(",")) if shape else ()))
  return rows


def test_rules_invert_on_every_official_key():
  by_file = collections.defaultdict(list)
  for file, key, shape in _official_keys():
    by_file[file].append((key, shape))
  assert len(by_file) == 7  # four base models and three retargeting groups
  for file, entries in by_file.items():
    mapped = {key: key_rules.torch_key_to_flax(key, len(shape)) for key, shape in entries}
    # As lp_jax.weights.export: spectral-norm modules are those with a `spectral` collection entry.
    spectral = {m[1][:-1] for m in mapped.values() if m is not None and m[0] == "spectral"}
    targets = [(m[0],) + m[1] for m in mapped.values() if m is not None]
    assert len(set(targets)) == len(targets), f"{file}: two keys map to one Flax leaf"
    for key, shape in entries:
      if key.endswith(".num_batches_tracked"):
        assert mapped[key] is None, key
        continue
      collection, path, layout = mapped[key]
      back = key_rules.flax_to_torch_key(collection, path, len(shape), spectral)
      assert back == (key, layout), key
  spade = {key_rules.torch_key_to_flax(k, len(s))[0] for k, s in by_file["spade_generator.pth"]}
  assert "spectral" in spade  # the generator's weight_u / weight_v were really exercised


def test_layouts_invert_and_move_axes_as_documented():
  rng = np.random.default_rng(0)
  shapes = {}
  for _, key, shape in _official_keys():
    mapped = key_rules.torch_key_to_flax(key, len(shape))
    if mapped is not None:
      shapes.setdefault((shape, mapped[2]), key)
  assert {layout for _, layout in shapes} == {"conv", "linear", "same"}
  for (shape, layout), key in shapes.items():
    torch_array = rng.random(shape, dtype=np.float32)
    flax_array = key_rules.to_flax_layout(torch_array, layout)
    np.testing.assert_array_equal(key_rules.to_torch_layout(flax_array, layout), torch_array, key)
    # Not just any invertible shuffle: Flax kernels are (*k, in, out), PyTorch's (out, in, *k).
    if layout == "conv":
      want = np.moveaxis(torch_array, (0, 1), (-1, -2))
    elif layout == "linear":
      want = torch_array.T
    else:
      want = torch_array
    np.testing.assert_array_equal(flax_array, want, key)
    assert flax_array.flags.c_contiguous, key
    # And the other way round, from an array in the Flax layout.
    back = rng.random(flax_array.shape, dtype=np.float32)
    np.testing.assert_array_equal(
        key_rules.to_flax_layout(key_rules.to_torch_layout(back, layout), layout), back, key)


def test_rule_table_edge_cases():
  assert key_rules.module_path("a.b.0.1.c.weight") == (("a", "b.0.1", "c"), "weight")
  assert key_rules.torch_key_to_flax("fc.weight", 2) == ("params", ("fc", "kernel"), "linear")
  assert key_rules.torch_key_to_flax("norm.weight", 1) == ("params", ("norm", "scale"), "same")
  with pytest.raises(key_rules.UnknownKeyError):
    key_rules.torch_key_to_flax("conv.weight_scale", 1)
  assert key_rules.strip_ddp("module.mlp.0.weight") == "mlp.0.weight"
  assert key_rules.strip_ddp("a.module.b.weight") == "a.b.weight"
  assert key_rules.strip_ddp("submodule.weight") == "submodule.weight"

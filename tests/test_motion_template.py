# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Motion templates: the official d1/d5 pickles read safely and bit-exactly, both round trips
(our npz, the official pkl layout), the lip constant, and refusals of hostile or broken files."""

import dataclasses
import os
import pickle
import subprocess

import numpy as np
import pytest

from conftest import SHARED
from lp_jax.motion_template import formats, lip_constant, npz, numpy_pickle, official_pkl
from lp_jax.motion_template.errors import TemplateError
from lp_jax.motion_template.template import MotionTemplate

ASSETS = os.path.join(SHARED, "assets")
D1 = os.path.join(ASSETS, "driving", "d1.pkl")
D5 = os.path.join(ASSETS, "driving", "d5.pkl")
LIP = os.path.join(ASSETS, "resources", "lip_array.pkl")

needs_assets = pytest.mark.skipif(
    not all(os.path.isfile(p) for p in (D1, D5, LIP)),
    reason=f"official example templates not found under {ASSETS}")

FIELDS = ("scale", "R", "exp", "t", "kp", "x_s", "eye_ratios", "lip_ratios")


def trusted_pickle(path):
  # Plain pickle only for the shared official assets and files this test wrote itself: the
  # trusted reference the safe loader must reproduce bit for bit.
  with open(path, "rb") as f:
    return pickle.load(f)


def assert_bits(a, b):
  a, b = np.asarray(a), np.asarray(b)
  assert a.dtype == b.dtype and a.shape == b.shape
  assert a.tobytes() == b.tobytes()


def assert_same_tree(a, b):
  """Same types, keys, order and array bits all the way down."""
  assert type(a) is type(b)
  if isinstance(a, dict):
    assert list(a) == list(b)
    for key in a:
      assert_same_tree(a[key], b[key])
  elif isinstance(a, (list, tuple)):
    assert len(a) == len(b)
    for x, y in zip(a, b):
      assert_same_tree(x, y)
  elif isinstance(a, (np.ndarray, np.generic)):
    assert_bits(a, b)
  else:
    assert a == b


def assert_same_template(a, b):
  assert a.n_frames == b.n_frames and a.output_fps == b.output_fps
  for key in FIELDS:
    x, y = getattr(a, key), getattr(b, key)
    assert (x is None) == (y is None), key
    if x is not None:
      assert_bits(x, y)


def raises_one_line(fn, *args, match=()):
  with pytest.raises(TemplateError) as info:
    fn(*args)
  message = str(info.value)
  assert "\n" not in message and "\r" not in message, message
  for part in match:
    assert part in message, message
  return message


def synthetic(frames=5, ratios=True, keypoints=True, fps=25):
  rng = np.random.default_rng(frames)
  rot = np.linalg.qr(rng.normal(size=(frames, 3, 3)))[0].astype(np.float32)
  extra = {}
  if keypoints:
    extra["kp"] = rng.normal(size=(frames, 21, 3)).astype(np.float32)
    extra["x_s"] = rng.normal(size=(frames, 21, 3)).astype(np.float32)
  if ratios:
    extra["eye_ratios"] = rng.uniform(size=(frames, 2)).astype(np.float32)
    extra["lip_ratios"] = rng.uniform(size=(frames, 1)).astype(np.float32)
  return MotionTemplate(
      output_fps=fps, scale=rng.uniform(1, 2, (frames, 1)).astype(np.float32), R=rot,
      exp=rng.normal(size=(frames, 21, 3)).astype(np.float32) * 0.01,
      t=rng.normal(size=(frames, 3)).astype(np.float32), **extra)


def write_pickle(path, obj, protocol=4):
  with open(path, "wb") as f:
    pickle.dump(obj, f, protocol=protocol)
  return str(path)


# ------------------------------------------------------------------------------------------------
# The official templates.


@needs_assets
@pytest.mark.parametrize("path,frames", [(D1, 16), (D5, 148)])
def test_official_templates(path, frames):
  tpl = formats.load_template(path)
  assert tpl.n_frames == frames and tpl.output_fps == 30
  assert tpl.source_format == "pkl-legacy"
  shapes = {"scale": (1,), "R": (3, 3), "exp": (21, 3), "t": (3,), "eye_ratios": (2,),
            "lip_ratios": (1,)}
  for key, shape in shapes.items():
    arr = getattr(tpl, key)
    assert arr.shape == (frames,) + shape and arr.dtype == np.float32, key
    assert np.isfinite(arr).all()
  assert tpl.kp is None and tpl.x_s is None  # legacy templates do not store keypoints
  gram = np.einsum("tij,tkj->tik", tpl.R, tpl.R)
  np.testing.assert_allclose(gram, np.broadcast_to(np.eye(3), gram.shape), atol=1e-4)
  assert set(tpl.motion()) == {"scale", "R", "exp", "t"}


@needs_assets
@pytest.mark.parametrize("path", [D1, D5])
def test_matches_plain_pickle(path):
  ref = trusted_pickle(path)
  assert_same_tree(numpy_pickle.safe_load_pickle(path), ref)
  tpl = formats.load_template(path)
  assert tpl.n_frames == ref["n_frames"] == len(ref["motion"])
  assert tpl.output_fps == ref["output_fps"]
  for i, frame in enumerate(ref["motion"]):
    for key, src in (("scale", "scale"), ("R", "R_d"), ("exp", "exp"), ("t", "t")):
      assert_bits(getattr(tpl, key)[i], frame[src][0])
  for i in range(tpl.n_frames):
    assert_bits(tpl.eye_ratios[i], ref["c_d_eyes_lst"][i][0])
    assert_bits(tpl.lip_ratios[i], ref["c_d_lip_lst"][i][0])


@needs_assets
def test_other_protocols_load_the_same(tmp_path):
  # Protocols 0-2 name globals with GLOBAL and spell bytes as _codecs.encode; protocol 5 stores
  # arrays through numpy's _frombuffer.
  ref = trusted_pickle(D1)
  for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
    path = write_pickle(tmp_path / f"d1_p{protocol}.pkl", ref, protocol)
    assert_same_tree(numpy_pickle.safe_load_pickle(path), ref)
    assert_same_template(formats.load_template(path), formats.load_template(D1))


@needs_assets
def test_lip_array():
  lip = lip_constant.load_lip_array(LIP)
  assert lip.shape == (1, 21, 3) and lip.dtype == np.float64
  np.testing.assert_allclose(lip[0, 19, 1], -1.50906e-02, rtol=1e-5)
  np.testing.assert_allclose(lip[0, 20], [2.22474e-04, 5.62788e-03, 2.72646e-03], rtol=1e-5)
  assert_bits(lip, trusted_pickle(LIP))


# ------------------------------------------------------------------------------------------------
# Round trips.


@needs_assets
@pytest.mark.parametrize("source", [D5, "synthetic"])
def test_npz_round_trip(tmp_path, source):
  tpl = formats.load_template(source) if source != "synthetic" else synthetic()
  path = tmp_path / "motion.npz"
  assert npz.save_template(path, tpl) == os.fspath(path)
  with np.load(path, allow_pickle=False) as z:  # no pickles inside
    expected = {"lp_jax_template", "n_frames", "output_fps", "scale", "R", "exp", "t"}
    expected |= {k for k in FIELDS[4:] if getattr(tpl, k) is not None}
    assert set(z.files) == expected
  back = formats.load_template(path)
  assert back.source_format == "npz"
  assert_same_template(back, tpl)
  assert os.listdir(tmp_path) == ["motion.npz"]  # no temporary left behind


@needs_assets
def test_official_pkl_round_trip_legacy_input(tmp_path):
  tpl = formats.load_template(D1)
  path = os.fspath(tmp_path / "d1_current.pkl")
  assert official_pkl.save_template_official_pkl(path, tpl) == path
  with open(path, "rb") as f:
    assert f.read(2) == b"\x80\x04"  # protocol 4
  written = trusted_pickle(path)  # written by us just now
  assert list(written) == ["n_frames", "output_fps", "motion", "c_eyes_lst", "c_lip_lst"]
  assert type(written["n_frames"]) is int and written["n_frames"] == 16
  assert type(written["output_fps"]) is int and written["output_fps"] == 30
  ref = trusted_pickle(D1)
  for frame, ref_frame in zip(written["motion"], ref["motion"], strict=True):
    assert list(frame) == ["scale", "R", "exp", "t"]
    for key, src in (("scale", "scale"), ("R", "R_d"), ("exp", "exp"), ("t", "t")):
      assert type(frame[key]) is np.ndarray
      assert_bits(frame[key], ref_frame[src])  # same shapes (1, ...) and float32 bits
  for new, old in (("c_eyes_lst", "c_d_eyes_lst"), ("c_lip_lst", "c_d_lip_lst")):
    assert type(written[new]) is list
    for x, y in zip(written[new], ref[old], strict=True):
      assert type(x) is np.ndarray
      assert_bits(x, y)
  back = formats.load_template(path)
  assert back.source_format == "pkl"
  assert_same_template(back, tpl)
  assert os.listdir(tmp_path) == ["d1_current.pkl"]


def test_official_pkl_round_trip_with_keypoints(tmp_path):
  tpl = synthetic(frames=3)
  path = official_pkl.save_template_official_pkl(tmp_path / "current.pkl", tpl)
  written = trusted_pickle(path)
  assert written["n_frames"] == 3 and written["output_fps"] == 25
  shapes = {"scale": (1, 1), "R": (1, 3, 3), "exp": (1, 21, 3), "t": (1, 3), "kp": (1, 21, 3),
            "x_s": (1, 21, 3)}
  for frame in written["motion"]:
    assert list(frame) == list(shapes)
    for key, shape in shapes.items():
      assert frame[key].shape == shape and frame[key].dtype == np.float32
  assert [x.shape for x in written["c_eyes_lst"]] == [(1, 2)] * 3
  assert [x.shape for x in written["c_lip_lst"]] == [(1, 1)] * 3
  assert all(x.dtype == np.float32 for x in written["c_eyes_lst"] + written["c_lip_lst"])
  assert_same_template(formats.load_template(path), tpl)


def test_official_pkl_without_ratios(tmp_path):
  tpl = synthetic(frames=2, ratios=False, keypoints=False, fps=29.97)
  written = trusted_pickle(official_pkl.save_template_official_pkl(tmp_path / "a.pkl", tpl))
  assert list(written) == ["n_frames", "output_fps", "motion"]
  back = formats.load_template(tmp_path / "a.pkl")
  assert back.eye_ratios is None and back.lip_ratios is None and back.output_fps == 29.97


def test_constructor_derives_and_checks_frames():
  tpl = synthetic(frames=4)
  assert tpl.n_frames == 4 and tpl.source_format == "memory"
  # A field-by-field copy with sliced arrays (as `infer.py --max_frames` makes) stays consistent.
  head = MotionTemplate(**{f.name: getattr(tpl, f.name)[:2]
                                     if isinstance(getattr(tpl, f.name), np.ndarray)
                                     else getattr(tpl, f.name) for f in dataclasses.fields(tpl)})
  assert head.n_frames == 2 and head.eye_ratios.shape == (2, 2)
  raises_one_line(lambda: MotionTemplate(output_fps=0, scale=tpl.scale, R=tpl.R,
                                                   exp=tpl.exp, t=tpl.t),
                  match=("MotionTemplate", "output_fps"))
  raises_one_line(lambda: MotionTemplate(output_fps=25, scale=tpl.scale[:3], R=tpl.R,
                                                   exp=tpl.exp, t=tpl.t),
                  match=("'scale'", "(3, 1)"))


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
  path = tmp_path / "keep.pkl"
  path.write_bytes(b"old")

  def broken_dump(obj, f, protocol):
    f.write(b"\x80\x04partial")
    raise OSError("disk full")

  monkeypatch.setattr(official_pkl.pickle, "dump", broken_dump)
  raises_one_line(official_pkl.save_template_official_pkl, path, synthetic(),
                  match=(str(path), "disk full"))
  assert path.read_bytes() == b"old"
  assert os.listdir(tmp_path) == ["keep.pkl"]


# ------------------------------------------------------------------------------------------------
# Refusals.


class _Reduces:
  """Pickles as `func(*args)`, the way a hostile template runs code at load time."""

  def __init__(self, func, *args):
    self.func, self.args = func, args

  def __reduce__(self):
    return self.func, self.args


class Arbitrary:
  """Any class at all: refused although harmless."""


def test_refuses_os_system(tmp_path):
  marker = tmp_path / "marker"
  path = write_pickle(tmp_path / "evil.pkl", {"n_frames": 1, "motion": [
      _Reduces(os.system, f"touch {marker}")]})
  refused = f"{os.system.__module__}.system"  # 'posix.system' on Linux
  for loader in (formats.load_template, numpy_pickle.safe_load_pickle, lip_constant.load_lip_array):
    raises_one_line(loader, path, match=(path, refused, "refused"))
  assert not marker.exists()


@pytest.mark.parametrize("payload,refused", [
    (_Reduces(eval, "__import__('os').system('touch never')"), "builtins.eval"),
    (_Reduces(subprocess.Popen, ["true"]), "subprocess.Popen"),
    (_Reduces(getattr, Arbitrary, "mro"), "builtins.getattr"),
    (_Reduces(bytes, 10**9), "builtins.bytes with arguments"),
    (Arbitrary(), f"{__name__}.Arbitrary"),
])
def test_refuses_other_globals(tmp_path, payload, refused):
  path = write_pickle(tmp_path / "evil.pkl", [payload])
  raises_one_line(formats.load_template, path, match=(path, refused))
  assert not (tmp_path / "never").exists() and not os.path.exists("never")


def test_refuses_object_arrays(tmp_path):
  path = write_pickle(tmp_path / "obj.pkl", {"x": np.array([1, "a"], dtype=object)})
  raises_one_line(numpy_pickle.safe_load_pickle, path, match=(path, "object"))
  path = write_pickle(tmp_path / "void.pkl", {"x": np.zeros(2, dtype=[("a", "f4")])})
  raises_one_line(numpy_pickle.safe_load_pickle, path, match=(path, "refused numpy dtype"))


def test_refuses_extension_opcodes(tmp_path):
  path = tmp_path / "ext.pkl"
  path.write_bytes(b"\x80\x02\x82\x01.")  # EXT1 1: a copyreg extension, never vetted by name
  raises_one_line(numpy_pickle.safe_load_pickle, path, match=(str(path), "EXT1"))


@needs_assets
def test_refuses_truncated_template(tmp_path):
  data = open(D5, "rb").read()
  path = tmp_path / "d5_half.pkl"
  path.write_bytes(data[:len(data) // 2])
  raises_one_line(formats.load_template, path, match=(str(path), "truncated"))
  (tmp_path / "empty.pkl").write_bytes(b"")
  raises_one_line(formats.load_template, tmp_path / "empty.pkl", match=("is empty",))


def test_refuses_missing_files(tmp_path):
  for name in ("nope.pkl", "nope.npz"):
    raises_one_line(formats.load_template, tmp_path / name, match=(name, "no such file"))
  raises_one_line(lip_constant.load_lip_array, tmp_path / "nope.pkl", match=("no such file",))
  raises_one_line(formats.load_template, tmp_path / "motion.txt", match=(".pkl", ".npz"))


def test_refuses_foreign_npz(tmp_path):
  path = tmp_path / "other.npz"
  np.savez(path, a=np.zeros(3))
  raises_one_line(formats.load_template, path,
                  match=(str(path), "not an lp_jax motion template", "exp"))
  np.save(tmp_path / "single.npy", np.zeros(3))
  os.replace(tmp_path / "single.npy", tmp_path / "single.npz")
  raises_one_line(formats.load_template, tmp_path / "single.npz", match=("single .npy",))
  (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 cut short")
  raises_one_line(formats.load_template, tmp_path / "junk.npz", match=("junk.npz",))
  tpl = synthetic(frames=3)
  arrays = {k: getattr(tpl, k) for k in ("scale", "R", "exp", "t")}
  np.savez(tmp_path / "lying.npz", lp_jax_template=1, n_frames=5, output_fps=25.0, **arrays)
  raises_one_line(formats.load_template, tmp_path / "lying.npz",
                  match=("n_frames says 5", "3 frames"))
  np.savez(tmp_path / "objects.npz", lp_jax_template=1, n_frames=3, output_fps=25.0,
           **dict(arrays, exp=np.array([None] * 3, dtype=object)))
  raises_one_line(formats.load_template, tmp_path / "objects.npz", match=("objects.npz",))


def test_refuses_bad_template_contents(tmp_path):
  good = trusted_pickle(official_pkl.save_template_official_pkl(tmp_path / "good.pkl",
                                                                synthetic(3)))

  def check(obj, *match):
    path = write_pickle(tmp_path / "bad.pkl", obj)
    raises_one_line(formats.load_template, path, match=(path,) + match)

  check(dict(good, motion=[], n_frames=0, c_eyes_lst=[], c_lip_lst=[]), "has no frames")
  check(dict(good, n_frames=20), "n_frames says 20", "holds 3 frames")
  check({k: v for k, v in good.items() if k != "n_frames"}, "'n_frames'")
  check([1, 2, 3], "not a motion template")
  check({"n_frames": 1}, "no 'motion'")
  nan = [dict(f) for f in good["motion"]]
  nan[1]["exp"] = np.full((1, 21, 3), np.nan, np.float32)
  check(dict(good, motion=nan), "non-finite", "frame 1")
  short = [dict(f) for f in good["motion"]]
  short[2]["exp"] = np.zeros((1, 20, 3), np.float32)
  check(dict(good, motion=short), "motion[2]['exp']", "(1, 20, 3)", "(1, 21, 3)")
  no_t = [dict(f) for f in good["motion"]]
  del no_t[0]["t"]
  check(dict(good, motion=no_t), "motion[0] has no 't'")
  check(dict(good, c_eyes_lst=good["c_eyes_lst"][:2]), "'c_eyes_lst' holds 2 entries")
  check(dict(good, output_fps="fast"), "output_fps")
  cyclic = []
  cyclic.append(cyclic)
  check(cyclic, "not a motion template")

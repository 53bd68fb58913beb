# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Motion templates (official pkl, both key generations, and our npz) and media basics."""

import os
import pickle

import numpy as np
import pytest

from conftest import SHARED
from lp_jax import templates
from lp_jax.io import media

DRIVING = os.path.join(SHARED, "assets", "driving")


def trusted_pickle(path):
  """The shared assets are trusted: the reference may use plain pickle (never the library)."""
  with open(path, "rb") as f:
    return pickle.load(f)


@pytest.mark.parametrize("name,frames", [("d1.pkl", 16), ("d5.pkl", 148)])
def test_official_legacy_templates(name, frames):
  path = os.path.join(DRIVING, name)
  tpl = templates.load_template(path)
  ref = trusted_pickle(path)
  assert tpl.n_frames == frames and tpl.output_fps == 30
  for i in (0, frames - 1):
    np.testing.assert_array_equal(tpl.R[i], ref["motion"][i]["R_d"][0])
    np.testing.assert_array_equal(tpl.exp[i], ref["motion"][i]["exp"][0])
    np.testing.assert_array_equal(tpl.eye_ratios[i], ref["c_d_eyes_lst"][i][0])
  eye = np.einsum("tij,tkj->tik", tpl.R, tpl.R)
  assert np.abs(eye - np.eye(3)).max() < 1e-4


def test_round_trips_npz_and_official_pkl(tmp_path):
  tpl = templates.load_template(os.path.join(DRIVING, "d1.pkl"))
  back = templates.load_template(templates.save_template(str(tmp_path / "t.npz"), tpl))
  pkl = templates.save_template_official_pkl(str(tmp_path / "t.pkl"), tpl)
  official = trusted_pickle(pkl)  # current-generation layout, as the official code writes it
  assert official["n_frames"] == 16 and set(official["motion"][0]) == {"scale", "R", "exp", "t"}
  assert official["motion"][3]["exp"].shape == (1, 21, 3)
  assert official["c_eyes_lst"][0].shape == (1, 2) and official["c_lip_lst"][0].dtype == np.float32
  again = templates.load_template(pkl)
  for t in (back, again):
    for k in ("scale", "R", "exp", "t", "eye_ratios", "lip_ratios"):
      np.testing.assert_array_equal(getattr(t, k), getattr(tpl, k))
  assert sorted(os.listdir(tmp_path)) == ["t.npz", "t.pkl"]


class _Evil:
  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f"touch {self.marker}",))


def test_malicious_and_corrupt_templates_are_refused(tmp_path):
  marker = tmp_path / "pwned"
  evil = tmp_path / "evil.pkl"
  evil.write_bytes(pickle.dumps({"motion": [_Evil(marker)]}))
  with pytest.raises(templates.TemplateError, match="refused to unpickle global") as e:
    templates.load_template(str(evil))
  assert str(evil) in str(e.value) and "\n" not in str(e.value) and not marker.exists()
  ev = tmp_path / "eval.pkl"
  ev.write_bytes(pickle.dumps(eval))
  with pytest.raises(templates.TemplateError, match="builtins"):
    templates.safe_load_pickle(str(ev))
  obj = tmp_path / "obj.pkl"
  obj.write_bytes(pickle.dumps(np.array([1, "x"], dtype=object)))
  with pytest.raises(templates.TemplateError, match="object arrays"):
    templates.safe_load_pickle(str(obj))
  data = open(os.path.join(DRIVING, "d5.pkl"), "rb").read()
  cut = tmp_path / "cut.pkl"
  cut.write_bytes(data[: len(data) // 2])
  empty = tmp_path / "empty.pkl"
  empty.write_bytes(pickle.dumps({"n_frames": 0, "motion": []}))
  other = tmp_path / "other.npz"
  np.savez(other, a=np.zeros(3))
  for path, words in ((cut, "not a readable pickle"), (empty, "no frames"),
                      (other, "missing"), (tmp_path / "absent.pkl", "no such file")):
    with pytest.raises(templates.TemplateError, match=words) as e:
      templates.load_template(str(path))
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_lip_array():
  lip = templates.load_lip_array(os.path.join(SHARED, "assets", "resources", "lip_array.pkl"))
  assert lip.shape == (1, 21, 3) and abs(lip[0, 19, 1] + 1.50906e-02) < 1e-7


def test_media_probe_and_limits(tmp_path):
  d0 = media.probe_video(os.path.join(DRIVING, "d0.mp4"))
  d11 = media.probe_video(os.path.join(DRIVING, "d11.mp4"))
  assert (d0.fps_int, d0.width, d0.height, d0.has_audio) == (25, 512, 512, False)
  assert d11.has_audio and d11.is_square
  frames = list(media.VideoReader(os.path.join(DRIVING, "d0.mp4"), max_frames=5))
  assert len(frames) == 5 and frames[0].shape == (512, 512, 3)
  img = np.zeros((1501, 901, 3), np.uint8)
  out = media.resize_to_limit(img, 1280, 2)
  assert out.shape[0] == 1280 and out.shape[1] % 2 == 0 and out.shape[1] == 768
  assert media.choose_audio_source(os.path.join(DRIVING, "d11.mp4"), None, "source") \
      .endswith("d11.mp4")
  w = media.VideoWriter(str(tmp_path / "x.mp4"), 25)
  w.write(frames[0])
  w.abort()
  assert os.listdir(tmp_path) == []  # an aborted write leaves nothing
  with pytest.raises(media.MediaError, match="unknown input type"):
    media.classify(__file__)

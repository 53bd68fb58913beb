# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax.data: the Grain stream of (source, driving) pairs, eval clips, the lp_clips TFDS source.

Real inputs are ../shared/assets (three videos, five photos). Frames are 64x64 here to stay fast;
the decoded clips are cached per process, so after the first batch a batch costs milliseconds.
"""

import logging as py_logging
import os
import shutil

from conftest import SHARED
import grain
import numpy as np
import pytest

from lp_jax_configs import data as data_configs
from lp_jax import data
from lp_jax.data import augment
from lp_jax.data import frames as frames_lib
from lp_jax.data import index
from lp_jax.data import pipeline

ASSETS = os.path.join(SHARED, "assets")
S = 64
VIDEOS = {"driving/d0.mp4": 78, "driving/d11.mp4": 225, "source/s13.mp4": 103}
IMAGES = {"driving/d12.jpg", "source/s0.jpg", "source/s12.jpg", "source/s31.jpg",
          "source/s6.jpg"}


def _config(root=ASSETS, **overrides):
  c = data_configs.get_config("tiny")
  c.root = root
  c.image_size = S
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def _take(ds, n):
  it = iter(ds)
  out = [next(it) for _ in range(n)]
  if hasattr(it, "close"):
    it.close()
  return out


def _assert_batches_equal(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k], err_msg=k)


@pytest.fixture(scope="module", autouse=True)
def _assets():
  if not os.path.isdir(ASSETS):
    pytest.fail(f"{ASSETS} not found (set LP_SHARED or put ../shared beside the repo)")


# ------------------------------------------------------------------------------------------------
# Config, index, held-out rule


def test_config_tiny_and_full():
  full, tiny = data_configs.get_config(), data_configs.get_config("tiny")
  assert full.root is None and full.image_size == 256 and tiny.image_size == 256
  assert tiny.num_workers in (0, 1) and set(full.mixture) == {"video", "image"}
  with pytest.raises(ValueError, match="unknown arg"):
    data_configs.get_config("huge")


def test_index_folder_reads_metadata_only():
  clips = index.index_folder(ASSETS, exclude=("resources/*", "train/*"))
  got = {c.name: (c.kind, c.num_frames) for c in clips}
  assert got == {**{n: (index.VIDEO, f) for n, f in VIDEOS.items()},
                 **{n: (index.IMAGE, 1) for n in IMAGES}}
  assert [c.name for c in clips] == sorted(got)  # the same order on every host


def test_held_out_rule():
  clips = index.index_folder(ASSETS, exclude=("resources/*", "train/*"))
  train, held = index.split_clips(clips, _config())  # tiny: eval_names = (driving/d0.mp4,)
  assert [c.name for c in held] == ["driving/d0.mp4"]
  assert "driving/d0.mp4" not in {c.name for c in train} and len(train) == len(clips) - 1
  # The hash rule: stable, about eval_fraction of the videos, never an image.
  names = [f"v{i}.mp4" for i in range(2000)]
  vids = [index.Clip(name=n, file=n, kind=index.VIDEO, num_frames=10) for n in names]
  _, held = index.split_clips(vids, _config(eval_names=(), eval_fraction=0.1))
  assert 150 < len(held) < 250
  assert held == index.split_clips(vids, _config(eval_names=(), eval_fraction=0.1))[1]
  img = index.Clip(name="a.jpg", file="a.jpg", kind=index.IMAGE, num_frames=1)
  assert not index.is_held_out(img, (), 1.0)


def test_held_out_clips_never_train(caplog):
  # Every video held out: the stream must be stills only (and say the video kind is empty).
  c = _config(eval_names=tuple(VIDEOS))
  with caplog.at_level(py_logging.WARNING):
    (batch,) = _take(data.make_train_dataset(c, global_batch_size=8, process_index=0,
                                             process_count=1), 1)
  assert batch["is_image"].all()
  assert any("no video clips" in r.getMessage() for r in caplog.records)


def test_eval_clips():
  clips = data.make_eval_clips(_config())
  assert [c["name"] for c in clips] == ["driving/d0.mp4"]
  frames = clips[0]["frames"]
  assert frames.shape == (8, S, S, 3) and frames.dtype == np.float32
  assert 0.0 <= frames.min() and frames.max() <= 1.0 and frames.std() > 0.05
  np.testing.assert_array_equal(frames, data.make_eval_clips(_config())[0]["frames"])
  assert np.abs(frames[0] - frames[-1]).mean() > 1e-3  # real frames of the clip, not one repeated


# ------------------------------------------------------------------------------------------------
# The training stream


def test_batch_schema_and_pairs():
  c = _config(mixture=dict(video=0.5, image=0.5))
  batches = _take(data.make_train_dataset(c, global_batch_size=8, process_index=0,
                                          process_count=1), 2)
  b = batches[0]
  assert b["source"].shape == b["driving"].shape == (8, S, S, 3)
  assert b["source"].dtype == b["driving"].dtype == np.float32
  assert b["source_landmarks"].shape == b["driving_landmarks"].shape == (8, 203, 2)
  assert b["is_image"].dtype == b["has_landmarks"].dtype == np.bool_
  assert b["is_image"].shape == b["has_landmarks"].shape == (8,)
  for x in batches:
    assert 0.0 <= x["source"].min() and x["source"].max() <= 1.0
    assert not x["has_landmarks"].any() and not x["source_landmarks"].any()
  is_image = np.concatenate([x["is_image"] for x in batches])
  assert is_image.sum() == 8  # mixture 0.5/0.5 interleaves the two kinds exactly
  # Still pairs come from one photo with different geometric jitter: alike but not equal.
  src = np.concatenate([x["source"] for x in batches])
  drv = np.concatenate([x["driving"] for x in batches])
  for s, d in zip(src[is_image], drv[is_image]):
    assert 0 < np.abs(s - d).mean() < 0.25
    assert abs(s.mean() - d.mean()) < 0.05  # the same colour jitter


def test_per_process_shards_are_disjoint_slices_of_one_stream():
  c = _config()
  whole = _take(data.make_train_dataset(c, global_batch_size=4, process_index=0,
                                        process_count=1), 2)
  shards = [_take(data.make_train_dataset(c, global_batch_size=4, process_index=p,
                                          process_count=2), 4) for p in (0, 1)]
  # Element k of the global stream goes to process k % 2 with its own augmentation: the two
  # processes see different elements, and together exactly the single-process stream.
  for p in (0, 1):
    for k in ("source", "driving", "is_image"):
      got = np.concatenate([b[k] for b in shards[p]])[:4]
      want = np.concatenate([b[k] for b in whole])[p::2]
      np.testing.assert_array_equal(got, want, err_msg=f"process {p}, {k}")
  a = np.concatenate([b["source"] for b in shards[0]])
  b = np.concatenate([b["source"] for b in shards[1]])
  assert all(np.abs(x - y).mean() > 1e-3 for x, y in zip(a, b))
  with pytest.raises(ValueError, match="divide"):
    data.make_train_dataset(c, global_batch_size=3, process_index=0, process_count=2)


def test_iterator_checkpoint_restores_exact_batches():
  c = _config()
  ds = data.make_train_dataset(c, global_batch_size=2, process_index=0, process_count=1)
  grain.experimental.assert_equal_output_after_checkpoint(
      grain.experimental.LimitIterDataset(ds, count=4))
  # A resumed run: a fresh pipeline (cold frame cache) restored from a saved state.
  it = iter(ds)
  _take_from(it, 3)
  state = it.get_state()
  expected = _take_from(it, 3)
  it2 = iter(data.make_train_dataset(c, global_batch_size=2, process_index=0, process_count=1))
  it2.set_state(state)
  _assert_batches_equal(_take_from(it2, 3), expected)


def _take_from(it, n):
  return [next(it) for _ in range(n)]


def test_worker_processes_match_and_restore():
  c = _config(num_workers=1)
  ref = _take(data.make_train_dataset(_config(), global_batch_size=2, process_index=0,
                                      process_count=1), 4)
  ds = data.make_train_dataset(c, global_batch_size=2, process_index=0, process_count=1)
  it = iter(ds)
  got = _take_from(it, 2)
  state = it.get_state()
  it.close()
  _assert_batches_equal(got, ref[:2])
  it2 = iter(ds)
  it2.set_state(state)
  _assert_batches_equal(_take_from(it2, 2), ref[2:])
  it2.close()


# ------------------------------------------------------------------------------------------------
# Bad input


def test_bad_files_are_skipped_with_one_warning_each(tmp_path, caplog):
  shutil.copy(os.path.join(ASSETS, "source", "s31.jpg"), tmp_path / "good.jpg")
  (tmp_path / "sub").mkdir()
  shutil.copy(os.path.join(ASSETS, "driving", "d0.mp4"), tmp_path / "sub" / "good.mp4")
  (tmp_path / "empty.mp4").write_bytes(b"")
  (tmp_path / "junk.avi").write_bytes(b"not a video" * 100)
  (tmp_path / "broken.png").write_bytes(b"not an image")
  with caplog.at_level(py_logging.WARNING):
    clips = index.index_folder(str(tmp_path))
  assert [c.name for c in clips] == ["good.jpg", "sub/good.mp4"]
  warned = [r.getMessage() for r in caplog.records if r.levelno == py_logging.WARNING]
  for bad in ("empty.mp4", "junk.avi", "broken.png"):
    assert sum(str(tmp_path / bad) in m for m in warned) == 1, warned
  (batch,) = _take(data.make_train_dataset(_config(str(tmp_path), eval_names=()),
                                           global_batch_size=2, process_index=0,
                                           process_count=1), 1)
  assert batch["source"].shape == (2, S, S, 3)


def test_nothing_usable_errors_name_the_folder(tmp_path):
  with pytest.raises(index.DataError, match=f"^{tmp_path}: no videos") as e:
    data.make_train_dataset(_config(str(tmp_path)), global_batch_size=2, process_index=0,
                            process_count=1)
  assert "\n" not in str(e.value)
  (tmp_path / "x.mp4").write_bytes(b"")
  (tmp_path / "y.jpg").write_bytes(b"nope")
  with pytest.raises(index.DataError, match=r"none of the 2 .*x\.mp4.*y\.jpg"):
    index.index_folder(str(tmp_path))
  with pytest.raises(index.DataError, match="no such folder"):
    index.index_folder(str(tmp_path / "missing"))


def test_undecodable_clip_is_replaced_deterministically(caplog):
  clips = [index.Clip(name=f"v{i}", file=f"v{i}", kind=index.VIDEO, num_frames=5)
           for i in range(3)]

  class Reader:  # clip v1 passes the probe but fails to decode
    def read(self, clip, idx, sequential=False):
      if clip.name == "v1":
        raise index.DataError(f"/data/{clip.name}: no frame could be decoded")
      return np.full((2, 8, 8, 3), int(clip.name[1]) * 100, np.uint8), None

  maker = pipeline.PairMaker({index.VIDEO: clips}, Reader(), 8, dict(
      data_configs.get_config().augment), 0)
  with caplog.at_level(py_logging.WARNING):
    outs = [maker((index.VIDEO, 1), np.random.default_rng(7)) for _ in range(3)]
  assert sum("/data/v1" in r.getMessage() for r in caplog.records) == 1  # once per process
  for o in outs:  # v1 -> v2 (value 200), the same each time
    np.testing.assert_array_equal(o["source"], outs[0]["source"])
    assert o["source"].mean() > 0.5
  bad = pipeline.PairMaker({index.VIDEO: clips[1:2]}, Reader(), 8,
                           dict(data_configs.get_config().augment), 0)
  with pytest.raises(index.DataError, match="no video clip is decodable.*/data/v1"):
    bad((index.VIDEO, 0), np.random.default_rng(0))


def test_frame_pairs_respect_max_gap():
  aug = dict(data_configs.get_config().augment)
  rng = np.random.default_rng(0)
  gaps = set()
  for _ in range(500):
    i, j = pipeline.PairMaker({}, None, 8, aug, 2)._frame_pair(rng.random(2), 50)
    assert 0 <= i < 50 and 0 <= j < 50
    gaps.add(j - i)
  assert gaps == {-2, -1, 0, 1, 2}
  for _ in range(100):  # no gap: any two frames, including a one-frame clip
    i, j = pipeline.PairMaker({}, None, 8, aug, 0)._frame_pair(rng.random(2), 1)
    assert i == j == 0


# ------------------------------------------------------------------------------------------------
# Augmentation geometry


def test_affine_identity_and_landmarks_follow_pixels():
  m = augment.affine_matrix(80, 64, augment.IDENTITY, False)
  np.testing.assert_allclose(augment.warp_points(np.array([[-0.5, -0.5], [79.5, 79.5]]), m),
                             [[-0.5, -0.5], [63.5, 63.5]], atol=1e-5)
  base = np.zeros((80, 80, 3), np.uint8)
  base[30:33, 50:53] = 255  # a dot centred on (x=51, y=31)
  g = augment.Geometry(scale=1.1, tx=0.04, ty=-0.03, angle=7.0)
  for flip in (False, True):
    m = augment.affine_matrix(80, 64, g, flip)
    out = augment.warp(base, m, 64)[..., 0].astype(np.float64)
    ys, xs = np.mgrid[:64, :64]
    centroid = np.array([(xs * out).sum(), (ys * out).sum()]) / out.sum()
    np.testing.assert_allclose(centroid, augment.warp_points(np.array([[51.0, 31.0]]), m)[0],
                               atol=0.3)


def test_colour_jitter_identity_and_range():
  img = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
  np.testing.assert_allclose(augment.apply_colour(img, augment.Colour()), img, atol=1e-6)
  out = augment.apply_colour(img, augment.Colour(1.3, 0.7, 1.2, 0.05))
  assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


# ------------------------------------------------------------------------------------------------
# The lp_clips TFDS source


def test_tfds_build_and_random_access(tmp_path):
  from lp_jax.data import tfds_builder  # pylint: disable=g-import-not-at-top
  root = tmp_path / "media"
  root.mkdir()
  shutil.copy(os.path.join(ASSETS, "driving", "d0.mp4"), root / "d0.mp4")
  shutil.copy(os.path.join(ASSETS, "source", "s0.jpg"), root / "s0.jpg")
  shutil.copy(os.path.join(ASSETS, "source", "s12.jpg"), root / "s12.jpg")
  c = _config(str(root), eval_names=(), tfds_dir=str(tmp_path / "tfds"))
  c.tfds_build.frame_size = 80
  c.tfds_build.max_clip_frames = 32
  ds_dir = tfds_builder.build_from_config(c)
  assert ds_dir.endswith(os.path.join("lp_clips", "default", "1.0.0"))
  clips, size = tfds_builder.read_clip_table(ds_dir)
  assert size == 80
  assert [(k.name, k.start, k.num_frames) for k in clips] == [
      ("d0.mp4#0", 0, 32), ("d0.mp4#1", 32, 32), ("d0.mp4#2", 64, 14), ("s0.jpg", 78, 1),
      ("s12.jpg", 79, 1)]
  # Random access returns exactly the folder reader's centre crops (same decode, same resize).
  tf_reader = frames_lib.TfdsFrames(ds_dir, size)
  folder_reader = frames_lib.FolderFrames(80, 2**30, 2**30)
  video = index.Clip(name="d0.mp4", file="d0.mp4", kind=index.VIDEO, num_frames=78,
                     path=str(root / "d0.mp4"))
  want, _ = folder_reader.read(video, [40, 33, 70])
  got, lmk = tf_reader.read(clips[1], [8, 1])
  np.testing.assert_array_equal(got, want[:2])
  np.testing.assert_array_equal(tf_reader.read(clips[2], [6])[0][0], want[2])
  assert lmk is None

  batches = _take(data.make_train_dataset(c, global_batch_size=4, process_index=0,
                                          process_count=1), 2)
  assert batches[0]["source"].shape == (4, S, S, 3)
  assert np.concatenate([b["is_image"] for b in batches]).any()
  # Held-out pieces of a video go together (rule on the source file).
  c.eval_names = ("d0.mp4",)
  assert [e["name"] for e in data.make_eval_clips(c)] == ["d0.mp4#0"]


def test_tfds_face_crops_carry_landmarks(tmp_path, monkeypatch):
  """The face-model path with a stand-in for FaceModels: crop box and landmarks line up."""
  from lp_jax.data import tfds_builder  # pylint: disable=g-import-not-at-top
  root = tmp_path / "media"
  root.mkdir()
  shutil.copy(os.path.join(ASSETS, "source", "s6.jpg"), root / "s6.jpg")
  shutil.copy(os.path.join(ASSETS, "driving", "d0.mp4"), root / "d0.mp4")
  # 203 points on a ring around (300, 280) of radius 90 px; the crop is built from them.
  t = np.linspace(0, 2 * np.pi, 203, endpoint=False)
  ring = np.stack([300 + 90 * np.cos(t), 280 + 90 * np.sin(t)], 1).astype(np.float32)

  class Face:
    landmark_2d_106 = ring[:106]

  class FakeModels:
    def detect_faces(self, rgb):
      return [Face()]

    def landmark_203(self, rgb, prior):
      return ring

  monkeypatch.setattr(tfds_builder.LpClips, "_face_models", lambda self: FakeModels())
  ds_dir = tfds_builder.build(str(root), str(tmp_path / "tfds"), "faces", frame_size=64,
                              max_clip_frames=100, weights_dir="unused")
  clips, _ = tfds_builder.read_clip_table(ds_dir)
  assert [(k.name, k.has_landmarks) for k in clips] == [("d0.mp4#0", True), ("s6.jpg", True)]
  _, lmk = frames_lib.TfdsFrames(ds_dir, 64).read(clips[1], [0])
  centre = lmk[0].mean(0)
  assert np.all(np.abs(centre - 32) < 8)  # the face sits near the crop centre
  radius = np.linalg.norm(lmk[0] - centre, axis=1).mean()
  assert 5 < radius < 32  # a face-sized ring inside the crop (crop scale 2.3)

  c = _config(str(root), eval_names=(), tfds_dir=str(tmp_path / "tfds"), tfds_name="faces")
  (b,) = _take(data.make_train_dataset(c, global_batch_size=4, process_index=0,
                                       process_count=1), 1)
  assert b["has_landmarks"].all()
  pts = b["source_landmarks"]
  assert np.all(np.abs(pts.mean(1) - 32) < 12)  # still near the centre after the jitter


def test_orbax_checkpoint_of_the_iterator(tmp_path):
  """The iterator state through Orbax, as the training checkpoint stores it (item `data`)."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  c = _config()
  it = iter(data.make_train_dataset(c, global_batch_size=2, process_index=0, process_count=1))
  _take_from(it, 2)
  mngr = ocp.CheckpointManager(tmp_path / "ckpt", item_names=("data",))
  mngr.save(2, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(it)))
  mngr.wait_until_finished()
  expected = _take_from(it, 2)
  it2 = iter(data.make_train_dataset(c, global_batch_size=2, process_index=0, process_count=1))
  mngr.restore(2, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(it2)))
  _assert_batches_equal(_take_from(it2, 2), expected)
  mngr.close()

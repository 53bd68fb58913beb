# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The Grain training stream and the held-out eval clips.

The training chain:

  per kind (video, image):  MapDataset.source(clip ids).seed(seed + kind).shuffle().repeat()
  MapDataset.mix([video, image], mixture weights)
    .random_map(PairMaker, seed)           # decode + augment, seeded by (seed, global index)
    [process_index::process_count]         # per-process shard AFTER the random map
    .batch(global_batch // process_count, drop_remainder=True)
    .to_iter_dataset(ReadOptions(read_threads, prefetch_buffer_size))
    .mp_prefetch(MultiprocessingOptions(num_workers))     # when num_workers > 0

`MapDataset.mix` interleaves the kinds in a fixed pattern in proportion to the weights (with 0.8 /
0.2, one still pair in every five elements); the shuffles inside each kind randomise the clips.
Grain seeds each element's generator from the seed and the element's index in the dataset that
`random_map` is applied to; slicing after it keeps that index global, so process 0 and process 1
draw different pairs and augmentations, and the union over processes is the single-process
stream. Nothing above `random_map` touches pixels: the main process handles clip ids only, and
frames are decoded inside `PairMaker`, i.e. in Grain's reader threads or worker processes.

Batch schema (per process, B = global_batch_size / process_count, S = image_size):
  source, driving      float32 [B, S, S, 3] RGB in [0, 1]
  is_image             bool [B]
  source_landmarks,
  driving_landmarks    float32 [B, 203, 2] (x, y) pixels of the S x S frame, OpenCV convention
                       (pixel centres at integers); zeros when absent
  has_landmarks        bool [B]
"""

import os
from typing import Optional

from absl import flags
from absl import logging
import grain
import numpy as np

from lp_jax.data import augment
from lp_jax.data import face_crop
from lp_jax.data import frames as frames_lib
from lp_jax.data import index

TFDS_BUILDER_NAME = "lp_clips"
_KINDS = (index.VIDEO, index.IMAGE)


def _tfds_dataset_dir(data_config) -> str:
  """tfds_dir/lp_clips/<tfds_name>/<newest version>, the folder of a built dataset."""
  base = os.path.join(os.path.abspath(data_config.tfds_dir), TFDS_BUILDER_NAME,
                      data_config.tfds_name)
  versions = sorted((v for v in (os.listdir(base) if os.path.isdir(base) else [])
                     if os.path.isfile(os.path.join(base, v, "dataset_info.json"))),
                    key=lambda v: tuple(int(p) for p in v.split(".") if p.isdigit()))
  if not versions:
    raise index.DataError(f"{base}: no built {TFDS_BUILDER_NAME} dataset (build it with "
                          f"python -m lp_jax.data.tfds_builder)")
  return os.path.join(base, versions[-1])


def crop_spec(data_config) -> face_crop.CropSpec | None:
  """The folder source's face-crop rule (data_config.face_crop), or None for centre squares."""
  fc = data_config.get("face_crop")
  if not fc or fc.get("detector", "none") == "none":
    return None
  if fc.detector != "haar":
    raise index.DataError(f"data config: face_crop.detector {fc.detector!r} is not 'haar' or "
                          "'none'")
  return face_crop.CropSpec(scale=float(fc.scale), shift_up=float(fc.shift_up),
                            sample_frames=int(fc.sample_frames))


def source_has_landmarks(data_config) -> bool:
  """Whether any clip of the configured source has landmarks: a TFDS build made with the face
  models has them; a folder source never does."""
  if not data_config.get("tfds_dir"):
    return False
  # tensorflow-datasets takes seconds to import: only runs that read a TFDS build pay it.
  from lp_jax.data import tfds_builder  # pylint: disable=g-import-not-at-top
  clips, _ = tfds_builder.read_clip_table(_tfds_dataset_dir(data_config))
  return any(c.has_landmarks for c in clips)


def open_source(data_config):
  """(clips, frame reader) of the configured source: TFDS if tfds_dir is set, else the folder."""
  if data_config.get("tfds_dir"):
    # tensorflow-datasets takes seconds to import: only runs that read a TFDS build pay it.
    from lp_jax.data import tfds_builder  # pylint: disable=g-import-not-at-top
    ds_dir = _tfds_dataset_dir(data_config)
    clips, frame_size = tfds_builder.read_clip_table(ds_dir)
    return clips, frames_lib.TfdsFrames(ds_dir, frame_size)
  if not data_config.get("root"):
    raise index.DataError("data config: set `root` (a folder of videos/images) or `tfds_dir`")
  clips = index.index_folder(data_config.root, tuple(data_config.get("exclude") or ()),
                             crop_spec(data_config))
  base = int(round(data_config.image_size * float(data_config.base_scale)))
  reader = frames_lib.FolderFrames(base, int(data_config.cache_mb * 2**20),
                                   int(data_config.clip_cache_mb * 2**20))
  return clips, reader


class PairMaker:
  """Grain random map: (kind, clip id) -> one training example (schema in the module doc).

  Picklable (Grain ships it to worker processes); the frame reader opens files lazily there.
  A clip that fails to decode is reported once per process (naming the file) and replaced by the
  next clip of the same kind; the replacement depends only on which files are broken, so the
  stream stays deterministic.
  """

  def __init__(self, clips_by_kind: dict, reader, image_size: int, augment_config: dict,
               max_frame_gap: int):
    self.clips_by_kind = clips_by_kind
    self.reader = reader
    self.image_size = int(image_size)
    self.aug = dict(augment_config)
    self.max_frame_gap = int(max_frame_gap)
    self._bad = {}  # clip name -> decode error, per process

  def __getstate__(self):
    state = dict(self.__dict__)
    state["_bad"] = {}
    return state

  def _frame_pair(self, u: np.ndarray, n: int) -> tuple[int, int]:
    """Two frame indices of an n-frame clip from two uniforms (valid for any clip length)."""
    i = min(int(u[0] * n), n - 1)
    if self.max_frame_gap > 0:  # driving uniform in [i - gap, i + gap], clamped to the clip
      j = i - self.max_frame_gap + min(int(u[1] * (2 * self.max_frame_gap + 1)),
                                       2 * self.max_frame_gap)
      return i, min(max(j, 0), n - 1)
    return i, min(int(u[1] * n), n - 1)

  def _load(self, kind: int, clip_id: int, u: np.ndarray):
    clips = self.clips_by_kind[kind]
    for k in range(len(clips)):
      clip = clips[(clip_id + k) % len(clips)]
      if clip.name in self._bad:
        continue
      i, j = self._frame_pair(u, clip.num_frames)
      try:
        return self.reader.read(clip, [i, j])
      except index.DataError as e:
        logging.warning("%s; skipping it", e)
        self._bad[clip.name] = str(e)
    raise index.DataError(f"no {index.KIND_NAMES[kind]} clip is decodable: "
                          f"{'; '.join(self._bad[c.name] for c in clips)}")

  def __call__(self, element, rng: np.random.Generator) -> dict:
    kind, clip_id = int(element[0]), int(element[1])
    # Every draw happens here, in a fixed order, whatever the clip turns out to be.
    u = rng.random(2)
    geoms = [augment.sample_geometry(rng, self.aug), augment.sample_geometry(rng, self.aug)]
    flip = bool(rng.random() < float(self.aug["flip_prob"]))
    colour = augment.sample_colour(rng, self.aug)

    base, lmk = self._load(kind, clip_id, u)
    if kind == index.VIDEO:
      geoms[1] = geoms[0]  # a video pair keeps its real relative motion
    has_lmk = lmk is not None
    flip = flip and not has_lmk
    s = self.image_size
    out = {}
    for n, (name, g) in enumerate(zip(("source", "driving"), geoms)):
      m = augment.affine_matrix(base.shape[1], s, g, flip)
      img = augment.warp(base[n], m, s).astype(np.float32) / 255.0
      out[name] = augment.apply_colour(img, colour)
      out[f"{name}_landmarks"] = (augment.warp_points(lmk[n], m) if has_lmk else
                                  np.zeros((frames_lib.NUM_LANDMARKS, 2), np.float32))
    out["is_image"] = np.bool_(kind == index.IMAGE)
    out["has_landmarks"] = np.bool_(has_lmk)
    return out


def _grain_flags_usable() -> None:
  """Lets mp_prefetch run in programs that never parse absl flags (tests, notebooks).

  Grain 0.2.18 reads its `grain_enable_multiprocess_worker_profiling` flag directly (not through
  its config's parsed-or-default path), which raises UnparsedFlagAccessError outside an absl app.
  Marking that one flag present keeps its default (False) and touches no other flag.
  """
  name = "grain_enable_multiprocess_worker_profiling"
  if not flags.FLAGS.is_parsed() and name in flags.FLAGS:
    flags.FLAGS[name].present = True


def _component(kind: int, clips: list, seed: int) -> grain.MapDataset:
  ids = [(kind, i) for i in range(len(clips))]
  return grain.MapDataset.source(ids).seed(seed + kind).shuffle().repeat()


def make_train_dataset(data_config, *, global_batch_size: int,
                       process_index: Optional[int] = None,
                       process_count: Optional[int] = None) -> grain.IterDataset:
  """The training stream of per-process batches (schema in the module docstring).

  Args:
    data_config: configs/data.py ConfigDict.
    global_batch_size: batch over all processes; must divide by process_count.
    process_index: this process's shard (default jax.process_index()).
    process_count: number of shards (default jax.process_count()).

  Returns:
    An infinite grain.IterDataset; its iterators support get_state/set_state and
    grain.checkpoint.CheckpointSave/CheckpointRestore.

  Raises:
    index.DataError: no usable training clip (message names the folder / file).
    ValueError: the batch size does not divide over the processes.
  """
  if process_index is None or process_count is None:
    import jax  # pylint: disable=g-import-not-at-top
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
  if global_batch_size % process_count:
    raise index.DataError(f"global_batch_size {global_batch_size} does not divide over "
                     f"{process_count} processes")
  clips, reader = open_source(data_config)
  train, held = index.split_clips(clips, data_config)
  by_kind = {k: [c for c in train if c.kind == k] for k in _KINDS}
  weights = {index.VIDEO: float(data_config.mixture["video"]),
             index.IMAGE: float(data_config.mixture["image"])}
  kinds = [k for k in _KINDS if by_kind[k] and weights[k] > 0]
  for k in _KINDS:
    if k not in kinds and weights[k] > 0:
      logging.warning("mixture: no %s clips for training; streaming the other kind only",
                      index.KIND_NAMES[k])
  if not kinds:
    where = data_config.get("tfds_dir") or data_config.get("root")
    raise index.DataError(f"{where}: no training clips ({len(clips)} clips, {len(held)} held "
                          f"out, mixture {dict(data_config.mixture)})")
  logging.info("data: %d video + %d image training clips, %d held out; mixture %s",
               len(by_kind[index.VIDEO]), len(by_kind[index.IMAGE]), len(held),
               {index.KIND_NAMES[k]: weights[k] for k in kinds})

  seed = int(data_config.seed)
  parts = [_component(k, by_kind[k], seed) for k in kinds]
  ds = parts[0] if len(parts) == 1 else grain.MapDataset.mix(parts, [weights[k] for k in kinds])
  maker = PairMaker({k: by_kind[k] for k in kinds}, reader, data_config.image_size,
                    dict(data_config.augment), data_config.max_frame_gap)
  ds = ds.random_map(maker, seed=seed)
  ds = ds[process_index::process_count]
  ds = ds.batch(global_batch_size // process_count, drop_remainder=True)
  ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=int(data_config.read_threads),
                                            prefetch_buffer_size=int(
                                                data_config.prefetch_buffer_size)))
  if int(data_config.num_workers) > 0:
    _grain_flags_usable()
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=int(data_config.num_workers),
        per_worker_buffer_size=int(data_config.worker_buffer_size)))
  return ds


def make_eval_clips(data_config) -> list[dict]:
  """The held-out clips for self-reenactment eval, deterministic, no augmentation.

  Returns:
    [{"name": str, "frames": float32 [T, S, S, 3] in [0, 1]}], sorted by name, at most
    eval_max_clips; T = min(clip length, eval_num_frames) frames every eval_frame_stride-th from
    the start. Frame 0 is the source. Empty when the rule holds no clip out.
  """
  clips, reader = open_source(data_config)
  _, held = index.split_clips(clips, data_config)
  held = sorted(held, key=lambda c: c.name)[:int(data_config.eval_max_clips)]
  s, stride = int(data_config.image_size), max(int(data_config.eval_frame_stride), 1)
  out = []
  for clip in held:
    idx = list(range(0, clip.num_frames, stride))[:int(data_config.eval_num_frames)]
    try:
      base, _ = reader.read(clip, idx, sequential=True)
    except index.DataError as e:
      logging.warning("%s; not used for eval", e)
      continue
    m = augment.affine_matrix(base.shape[1], s, augment.IDENTITY, False)
    frames = np.stack([augment.warp(f, m, s) for f in base]).astype(np.float32) / 255.0
    out.append({"name": clip.name, "frames": frames})
  return out

# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Training data: a Grain stream of (source, driving) pairs from videos and still images.

  make_train_dataset(data_config, global_batch_size=...)  -> grain.IterDataset of batches
  make_eval_clips(data_config)                            -> held-out clips for self-reenactment

Sources are a folder of videos/images (lp_jax.data.index, decoded by lp_jax.data.frames) or an
`lp_clips` TFDS dataset built from one (lp_jax.data.tfds_builder, imported only when used, so the
folder path does not load tensorflow-datasets). The chain, the sharding and the batch schema are
documented in lp_jax.data.pipeline; the augmentations in lp_jax.data.augment.
"""

from lp_jax.data.index import Clip
from lp_jax.data.index import DataError
from lp_jax.data.index import index_folder
from lp_jax.data.index import split_clips
from lp_jax.data.pipeline import make_eval_clips
from lp_jax.data.pipeline import make_train_dataset
from lp_jax.data.pipeline import open_source
from lp_jax.data.pipeline import source_has_landmarks

__all__ = ["Clip", "DataError", "index_folder", "split_clips", "make_eval_clips",
           "make_train_dataset", "open_source", "source_has_landmarks"]

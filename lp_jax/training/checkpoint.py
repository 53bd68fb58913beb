# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""One Orbax CheckpointManager per run: train state, data iterator and config as one checkpoint.

Layout: `<workdir>/checkpoints/<step>/{state,data,config}`. Orbax writes each checkpoint into a
temporary directory and renames it when every item (and every process) has finished, so a run
killed mid-save leaves only a `*.orbax-checkpoint-tmp-*` directory, which `latest_step()` never
lists and the next manager deletes: a torn checkpoint is never chosen. Saves are asynchronous
(the arrays are copied to host, then written by a background thread while training goes on).

Everything Orbax-specific lives in this file, so a move to the Orbax V1 API touches one place.
"""

import json
import os
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from absl import logging

from lp_jax.errors import MissingFileError

ITEMS = ("state", "data", "config")


class _IteratorSnapshot:
  """The data iterator's state frozen at `save()` time.

  Grain's handler calls `get_state()` when Orbax gets to the item; with async saving that could
  be after the loop has pulled further batches. A snapshot taken when the state is saved makes
  the data item describe exactly the batches the saved train state has consumed. (Grain's
  handler treats a non-DatasetIterator item's state as bytes; restore reads the same JSON.)
  """

  def __init__(self, iterator):
    self._state = json.dumps(iterator.get_state(), indent=1).encode()

  def get_state(self) -> bytes:
    return self._state


class Checkpointer:
  """Save / resume wrapper around `ocp.CheckpointManager`."""

  def __init__(self, workdir: str, *, save_every: int, keep: int, async_save: bool = True):
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=save_every,
        max_to_keep=keep,
        enable_async_checkpointing=async_save,
        cleanup_tmp_directories=True,  # remove what a killed run left half-written
        create=True)
    self.manager = ocp.CheckpointManager(
        self.directory, options=options, item_names=ITEMS,
        item_handlers={"state": ocp.StandardCheckpointHandler(),
                       "data": grain.checkpoint.CheckpointHandler(),
                       "config": ocp.JsonCheckpointHandler()})

  def latest_step(self) -> int | None:
    """The newest complete checkpoint's step (None when there is none)."""
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def should_save(self, step: int) -> bool:
    return self.manager.should_save(step)

  def save(self, step: int, state: Any, data_iterator, config, *, force: bool = False) -> bool:
    """Starts saving (asynchronously); returns whether a checkpoint was started at `step`."""
    if not force and not self.manager.should_save(step):
      return False
    if step in self.manager.all_steps():
      return False  # the periodic save already wrote it (e.g. a final save on a save step)
    items = dict(state=ocp.args.StandardSave(state),
                 config=ocp.args.JsonSave(config.to_dict() if hasattr(config, "to_dict")
                                          else config))
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointSave(_IteratorSnapshot(data_iterator))
    saved = self.manager.save(step, args=ocp.args.Composite(**items), force=force)
    if saved:
      logging.info("checkpoint at step %d started (%s)", step, self.directory)
    return saved

  def restore(self, step: int, abstract_state: Any, data_iterator) -> Any:
    """Restores the state onto the shardings of `abstract_state` and rewinds `data_iterator`.

    Args:
      step: a step from `latest_step()` / `all_steps()`.
      abstract_state: the state tree with `jax.ShapeDtypeStruct(shape, dtype, sharding=...)`
        leaves (`run.Run.abstract`, built by placement.with_shardings).
      data_iterator: the fresh Grain iterator to set to the saved position (None: skipped).
    Returns:
      The restored train state (its data iterator is restored in place).
    """
    items = dict(state=ocp.args.StandardRestore(abstract_state))
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    logging.info("restored step %d from %s", step, self.directory)
    return restored["state"]

  def restore_config(self, step: int) -> dict:
    return self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))[
        "config"]

  def reached_preemption(self, step: int) -> bool:
    """Multi-process preemption agreement (a SIGTERM seen by the distributed runtime)."""
    if jax.process_count() == 1:
      return False
    return self.manager.reached_preemption(step)

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def restore_state_only(directory: str, step: int | None = None) -> tuple[Any, int]:
  """The raw (numpy / host) state tree of a run's checkpoint, for Stage II bases and export.

  `directory` is a run's workdir or its `checkpoints/` folder; `step` defaults to the latest.
  """
  if os.path.isdir(os.path.join(directory, "checkpoints")):
    directory = os.path.join(directory, "checkpoints")
  mngr = ocp.CheckpointManager(os.path.abspath(directory), item_names=ITEMS,
                               item_handlers={"state": ocp.StandardCheckpointHandler()})
  step = mngr.latest_step() if step is None else step
  if step is None:
    raise MissingFileError(f"{directory}: no complete checkpoint")
  restored = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  mngr.close()
  return restored["state"], step

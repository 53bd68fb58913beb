# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""An iterator run ahead on a background thread, through a bounded queue.

Decoding a video and cropping its frames (ffmpeg, OpenCV: both release the GIL) then overlap
the device work and the paste-back of earlier frames, while at most `depth` items wait, so memory
stays flat in the video's length. Exceptions of the producer reach the consumer where the item
would have; closing the consumer (or dropping it) stops the producer.
"""

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_S = 0.1  # how often a blocked producer re-checks that the consumer still wants items


class _Failure:
  def __init__(self, error: BaseException):
    self.error = error


def put_unless_stopped(slots: queue.Queue, item, stop: threading.Event,
                       poll_s: float = _POLL_S) -> bool:
  """Puts `item` into a bounded queue, waiting while it is full; False (not put) once `stop` is
  set, so a producer never blocks on a consumer that is gone."""
  while not stop.is_set():
    try:
      slots.put(item, timeout=poll_s)
      return True
    except queue.Full:
      continue
  return False


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
  """Yields `items` in order, produced up to `depth` ahead on a daemon thread (depth 0: inline).
  """
  if depth <= 0:
    yield from items
    return
  slots: queue.Queue = queue.Queue(maxsize=depth)
  stop = threading.Event()

  put = lambda item: put_unless_stopped(slots, item, stop)

  def produce():
    source = iter(items)
    try:
      for item in source:
        if not put(item):
          return
      put(_DONE)
    except BaseException as e:  # handed to the consumer, which re-raises it with its traceback
      put(_Failure(e))
    finally:
      close = getattr(source, "close", None)
      if close is not None:
        close()

  worker = threading.Thread(target=produce, name="lp_jax-prefetch", daemon=True)
  worker.start()
  try:
    while True:
      item = slots.get()
      if item is _DONE:
        return
      if isinstance(item, _Failure):
        raise item.error
      yield item
  finally:
    stop.set()
    worker.join()

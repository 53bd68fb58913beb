# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`prefetch`: order, bounded look-ahead, errors at the consumer, and no thread left behind."""

import threading
import time

import pytest

from lp_jax.inference.prefetch import prefetch


def threads() -> int:
  return sum(t.name == "lp_jax-prefetch" for t in threading.enumerate())


def test_items_arrive_in_order_and_the_thread_ends():
  assert list(prefetch(range(50), depth=3)) == list(range(50))
  assert threads() == 0


def test_the_producer_runs_at_most_depth_ahead():
  produced = []

  def items():
    for i in range(20):
      produced.append(i)
      yield i

  it = prefetch(items(), depth=2)
  assert next(it) == 0
  # Item 0 consumed, 2 queued, one more produced and waiting for a free slot; then no more.
  deadline = time.monotonic() + 10
  while len(produced) < 4 and time.monotonic() < deadline:
    time.sleep(0.01)
  time.sleep(0.2)
  assert len(produced) == 4
  it.close()
  assert threads() == 0


def test_a_producer_error_reaches_the_consumer_in_place():
  def items():
    yield 1
    yield 2
    raise ValueError("bad frame 3")

  it = prefetch(items(), depth=4)
  assert [next(it), next(it)] == [1, 2]
  with pytest.raises(ValueError, match="bad frame 3"):
    next(it)
  assert threads() == 0


def test_closing_early_stops_an_endless_producer_and_closes_it():
  closed = threading.Event()

  def endless():
    try:
      i = 0
      while True:
        yield i
        i += 1
    finally:
      closed.set()

  it = prefetch(endless(), depth=2)
  assert [next(it) for _ in range(5)] == list(range(5))
  it.close()
  assert closed.wait(2) and threads() == 0


def test_the_next_item_is_made_while_the_consumer_holds_this_one():
  made = [threading.Event() for _ in range(3)]

  def items():
    for i in range(3):
      yield i
      made[i].set()  # after the hand-off: the producer went on to the next item

  it = prefetch(items(), depth=1)
  assert next(it) == 0
  # Inline iteration would deadlock here: item 1 can only be made after next() is called again.
  assert made[0].wait(10)
  assert list(it) == [1, 2]

"""The background-thread iterator that pipelines detection with tracking."""

from __future__ import annotations

import threading
import time

import pytest

from hoopsense.background import Background


def test_items_arrive_in_order_and_computed_ahead():
    produced: list[int] = []

    def make():
        for i in range(10):
            produced.append(i)
            yield i

    with Background(make, depth=2) as items:
        it = iter(items)
        assert next(it) == 0
        time.sleep(0.2)
        assert len(produced) >= 3  # the thread ran ahead of the consumer, up to the queue depth
        assert len(produced) <= 4
        assert [0, *it] == list(range(10))


def test_an_error_in_the_thread_is_raised_at_its_item():
    def make():
        yield 1
        raise ValueError("bad frame")

    with Background(make) as items:
        it = iter(items)
        assert next(it) == 1
        with pytest.raises(ValueError, match="bad frame"):
            next(it)


def test_close_stops_a_producer_the_consumer_left():
    stopped = threading.Event()

    def make():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            stopped.set()

    items = Background(make, depth=1)
    for i in items:
        if i == 3:
            break
    items.close()
    assert stopped.wait(2) and not items._thread.is_alive()


def test_iterating_twice_and_bad_depth_are_refused():
    items = Background(lambda: iter([1]))
    assert list(items) == [1]
    with pytest.raises(RuntimeError, match="once"):
        list(items)
    with pytest.raises(ValueError, match="depth"):
        Background(lambda: iter([]), depth=0)

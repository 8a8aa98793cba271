"""Run an iterator ahead of its consumer in a background thread (pipelining two stages).

Detection (OpenVINO, ONNX Runtime or torch) and recognition release the GIL
while they compute, so a stage moved into a :class:`Background` thread
overlaps with the tracking, drawing and encoding of the frames before it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


def put_unless_stopped(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put ``item`` into the bounded queue ``q``, waiting while it is full, unless ``stop`` is set
    first; True when the item went in."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Background(Generic[T]):
    """Iterate over ``make()``'s items, computed up to ``depth`` items ahead in a thread.

    An exception in the thread is raised again in the consumer, at the item
    where it happened. :meth:`close` (or leaving the ``with`` block) stops
    the thread, also when the consumer stops early; the thread is a daemon so
    it never keeps the process alive.
    """

    def __init__(self, make: Callable[[], Iterator[T]], *, depth: int = 2, name: str = "hoopsense-background") -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._make = make
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._started = False

    def __enter__(self) -> Background[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _put(self, item: object) -> bool:
        return put_unless_stopped(self._queue, item, self._stop)

    def _produce(self) -> None:
        items = self._make()
        try:
            for item in items:
                if not self._put(item):
                    return
        except BaseException as exc:
            self._put(_Failed(exc))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator left early runs its cleanup in this thread, now
        self._put(_DONE)

    def __iter__(self) -> Iterator[T]:
        if self._started:
            raise RuntimeError("a Background iterator can be iterated once")
        self._started = True
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    def close(self) -> None:
        """Stop the thread and wait for it (it finishes the item it is computing)."""
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive():
            self._thread.join()

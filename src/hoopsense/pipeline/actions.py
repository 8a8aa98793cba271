"""The recognition stage of ``analyze``: tubelets -> batched recognizer -> timeline.

Tracked frames go in; they come out in the same order, each with the action
(class index and confidence) of every player in it. A frame is held until each of its players'
labels is settled (see :meth:`Timeline.final_until`), so the video shows the
same actions as the timeline files. Clips from all players wait in one queue
and are classified ``batch_size`` at a time; when frames have waited
``soft_lag`` frames the queue is classified even if the batch is not full,
and past ``max_lag`` frames a frame is released with its provisional labels,
which bounds the frames held in memory.

Batches are classified in a worker thread (torch releases the GIL), so the
recognizer computes while detection, tracking and rendering go on; at most
``MAX_IN_FLIGHT`` batches wait or run there, and their results join the
timeline in the order the clips were cut.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from hoopsense.pipeline.stream import StageClock, TrackedFrame
from hoopsense.pipeline.timeline import Timeline
from hoopsense.recognizer.recognizer import Recognizer
from hoopsense.recognizer.tubelets import (
    SegmentEnd,
    Tubelet,
    TubeletBuilder,
    TubeletConfig,
)
from hoopsense.recognizer.windows import WindowPrediction

MAX_IN_FLIGHT = 2  # batches queued or running in the recognizer thread


class ActionStage:
    """Holds frames until their players' actions are known; see the module docstring."""

    def __init__(
        self,
        recognizer: Recognizer,
        tubelets: TubeletConfig,
        timeline: Timeline,
        *,
        keep_images: bool,
        clock: StageClock,
    ) -> None:
        self.recognizer = recognizer
        self.timeline = timeline
        self.builder = TubeletBuilder(tubelets, fill=recognizer.fill)
        self.keep_images = keep_images
        self.clock = clock
        self.batch_size = recognizer.batch_size
        self._pending: deque[Tubelet | SegmentEnd] = deque()
        self._n_pending = 0
        self._queue: deque = deque()
        settle = tubelets.stride + max(tubelets.stride, timeline.min_frames)
        self.soft_lag = tubelets.span + settle
        self.max_lag = self.soft_lag + settle + tubelets.max_gap
        self.windows = 0
        self.provisional_frames = 0
        # each entry: clips and segment ends in cut order, with the future of the clips' predictions
        self._in_flight: deque[tuple[list[Tubelet | SegmentEnd], Future | None]] = deque()
        self._worker: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Stop the recognizer thread (waiting for the batch it is classifying)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None

    def push(self, item: TrackedFrame) -> Iterator[tuple[TrackedFrame, dict[int, tuple[int, float]]]]:
        """Add a tracked frame (BGR image required); yield the frames whose labels are ready."""
        t = time.perf_counter()
        self._enqueue(self.builder.push(item.index, item.image, item.players, item.cut))
        self.clock.add("crop", t)
        self._queue.append(item if self.keep_images else replace(item, image=None))
        self._infer(full_batches_only=True)
        yield from self._release(drain=False)

    def flush(self, *, infer: bool = True) -> Iterator[tuple[TrackedFrame, dict[int, tuple[int, float]]]]:
        """End of the video: classify what is left (unless ``infer`` is False) and release every frame."""
        self._enqueue(self.builder.finish())
        try:
            if infer:
                self._infer(full_batches_only=False)
                self._collect(wait=True)
            else:
                self._collect(wait=True, apply=False)
                kept = [x for x in self._pending if isinstance(x, SegmentEnd)]
                self._pending, self._n_pending = deque(kept), 0
                self._apply_markers()
            yield from self._release(drain=True)
        finally:
            self.close()

    def _enqueue(self, items: list[Tubelet | SegmentEnd]) -> None:
        for x in items:
            self._pending.append(x)
            self._n_pending += isinstance(x, Tubelet)

    def _apply_markers(self) -> None:
        """Segment ends at the head of the queue with no clip before them still being classified."""
        while self._pending and isinstance(self._pending[0], SegmentEnd) and not self._in_flight:
            end = self._pending.popleft()
            self.timeline.end_segment(end.track_id, end.last_frame)

    def _classify(self, tubelets: list[Tubelet]) -> list[WindowPrediction]:
        """Runs in the recognizer thread."""
        t = time.perf_counter()
        predictions = self.recognizer.predict(tubelets)
        self.clock.add("recognize (background)", t)
        return predictions

    def _infer(self, *, full_batches_only: bool) -> None:
        """Send the pending clips to the recognizer thread, ``batch_size`` at a time (only full
        batches when ``full_batches_only``)."""
        while True:
            self._collect(wait=False)
            self._apply_markers()
            if self._n_pending == 0 or (full_batches_only and self._n_pending < self.batch_size):
                return
            chunk: list[Tubelet | SegmentEnd] = []
            clips = 0
            while self._pending and clips < self.batch_size:
                x = self._pending.popleft()
                chunk.append(x)
                clips += isinstance(x, Tubelet)
            while self._pending and isinstance(self._pending[0], SegmentEnd):
                chunk.append(self._pending.popleft())  # ends that follow the batch's clips keep their place
            tubelets = [x for x in chunk if isinstance(x, Tubelet)]
            self._n_pending -= len(tubelets)
            self.windows += len(tubelets)
            if len(self._in_flight) >= MAX_IN_FLIGHT:
                self._collect(wait=True, limit=len(self._in_flight) - MAX_IN_FLIGHT + 1)
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, thread_name_prefix="hoopsense-recognize")
            self._in_flight.append((chunk, self._worker.submit(self._classify, tubelets)))

    def _collect(self, *, wait: bool, apply: bool = True, limit: int | None = None) -> None:
        """Move finished batches (every batch, or the first ``limit``, when ``wait``) into the
        timeline, in cut order; an error in the recognizer thread is raised here. With ``apply``
        False the batches' predictions are dropped (their segment ends still count)."""
        done = 0
        while self._in_flight and (limit is None or done < limit):
            chunk, future = self._in_flight[0]
            if not apply:
                if future is not None:
                    future.cancel()
                predictions = None
            elif future is not None and not future.done() and not wait:
                return
            else:
                t = time.perf_counter()
                predictions = iter(future.result() if future is not None else ())
                self.clock.add("recognize_wait", t)
            self._in_flight.popleft()
            done += 1
            for x in chunk:  # keep the order of windows and segment ends
                if isinstance(x, SegmentEnd):
                    self.timeline.end_segment(x.track_id, x.last_frame)
                elif predictions is not None:
                    self.timeline.add(next(predictions))
        self._apply_markers()

    def _ready(self, item: TrackedFrame) -> bool:
        return all(self.timeline.final_until(int(t)) >= item.index for t in item.players.tracker_id)

    def _release(self, *, drain: bool) -> Iterator[tuple[TrackedFrame, dict[int, tuple[int, float]]]]:
        while self._queue:
            head = self._queue[0]
            if not drain and not self._ready(head):
                self._collect(wait=False)
                if self._ready(head):
                    continue
                if len(self._queue) > self.soft_lag and (self._n_pending or self._in_flight):
                    self._infer(full_batches_only=False)
                    self._collect(wait=True)
                    continue
                if len(self._queue) <= self.max_lag:
                    return
                self.provisional_frames += 1
            self._queue.popleft()
            labels = {}
            for tid in head.players.tracker_id:
                found = self.timeline.label_at(int(tid), head.index)
                if found is not None:
                    labels[int(tid)] = found
            yield head, labels

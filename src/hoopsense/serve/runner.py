"""The service's worker loop: queued jobs from the store onto the batch executor, results back into it.

One thread polls: it starts the oldest queued jobs while the executor has
room, polls the running attempts, retries a failed game once (a Ray retry
after a dead worker counts) and records how each job ended. Each job is a
:class:`~hoopsense.batch.task.GameTask` whose outputs go to
``DATA/jobs/<id>/<name>/``, so a job's files appear only when it is done.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hoopsense.batch.executors import Attempt, Executor
from hoopsense.batch.task import GameTask, clean_staging, read_progress
from hoopsense.errors import HoopsenseError
from hoopsense.serve.store import Job, JobStore

POLL_S = 0.2


class Runner:
    """Runs the jobs of ``store`` on ``executor``. ``make_task(job)`` builds a job's task (and raises
    :class:`HoopsenseError` when its options no longer hold, e.g. a checkpoint was removed)."""

    def __init__(self, store: JobStore, executor: Executor, make_task: Callable[[Job], GameTask]) -> None:
        self.store, self.executor, self.make_task = store, executor, make_task
        self._running: dict[str, tuple[GameTask, Attempt]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hoopsense-jobs", daemon=True)

    def start(self) -> None:
        for job_id in self.store.mark_interrupted():
            job = self.store.get(job_id)
            if job is not None:
                with contextlib.suppress(HoopsenseError):
                    clean_staging(self.make_task(job))
        self._thread.start()

    def stop(self) -> None:
        """Stop taking jobs; running ones are stopped and marked ``interrupted`` (re-runnable)."""
        self._stop.set()
        self._thread.join(timeout=10)
        with self._lock:
            for job_id, (task, attempt) in list(self._running.items()):
                attempt.cancel()
                clean_staging(task)
                self.store.update(
                    job_id, expect=("running",), state="interrupted", finished=time.time(),
                    error="the service stopped while it ran",
                )  # fmt: skip
            self._running.clear()
        self.executor.close()

    def progress(self, job: Job) -> dict[str, Any] | None:
        """``{"done", "total"}`` frames of a running job, when it has started decoding."""
        with self._lock:
            entry = self._running.get(job.id)
        if entry is None:
            return None
        p = read_progress(entry[0])
        return {"done": p["done"], "total": p["total"]} if p else None

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it had ended already."""
        with self._lock:
            entry = self._running.pop(job_id, None)
            if entry is not None:
                entry[1].cancel()
                clean_staging(entry[0])
            return self.store.update(
                job_id, expect=("queued", "running"), state="cancelled", finished=time.time(), error=None
            )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self._lock:
                    self._poll()
                    self._fill()
            except Exception:  # the loop must outlive one bad poll (e.g. a locked database)
                logging.getLogger("hoopsense.serve").exception("job loop")
            self._stop.wait(POLL_S)

    def _fill(self) -> None:
        while len(self._running) < self.executor.capacity:
            queued = self.store.jobs("queued")
            if not queued:
                return
            job = queued[0]
            try:
                task = self.make_task(job)
            except HoopsenseError as exc:
                self.store.update(job.id, state="failed", finished=time.time(), error=" ".join(str(exc).split()))
                continue
            if not self.store.update(job.id, expect=("queued",), state="running", started=time.time(), attempts=1):
                continue
            self._running[job.id] = (task, self.executor.start(task))

    def _poll(self) -> None:
        for job_id, (task, attempt) in list(self._running.items()):
            outcome = attempt.poll()
            if outcome is None:
                continue
            del self._running[job_id]
            job = self.store.get(job_id)
            attempts = (job.attempts if job else 1) + outcome.attempts - 1
            if outcome.ok:
                self.store.update(job_id, expect=("running",), state="done", finished=time.time(), attempts=attempts)
                continue
            clean_staging(task)
            if attempts < 2:
                self.store.update(job_id, expect=("running",), attempts=attempts + 1)
                self._running[job_id] = (task, self.executor.start(task))
                continue
            self.store.update(
                job_id, expect=("running",), state="failed", finished=time.time(), attempts=attempts,
                error=outcome.error or "failed",
            )  # fmt: skip


def job_folder(data: Path, job: Job) -> Path:
    """Where a job's outputs go (its task's ``out``)."""
    return data / "jobs" / job.id

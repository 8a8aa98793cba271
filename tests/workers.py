"""Kill a game's worker in the middle of the game, as a crash or an out-of-memory kill would."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path


class WorkerKiller:
    """In a thread: once the game whose progress file is ``progress`` has ``after`` frames done,
    SIGKILL the process that writes it (a local worker or a Ray worker). ``killed`` holds its pid.

    Use as a context manager around the batch run; leaving it stops the watch."""

    def __init__(self, progress: Path, after: int = 5, timeout_s: float = 120.0) -> None:
        self.progress, self.after, self.timeout_s = progress, after, timeout_s
        self.killed: list[int] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline and not self._done.is_set():
            try:
                doc = json.loads(self.progress.read_text())
            except (OSError, ValueError):
                doc = None
            if doc and doc["done"] > self.after:
                os.kill(doc["pid"], signal.SIGKILL)
                self.killed.append(doc["pid"])
                return
            time.sleep(0.05)

    def __enter__(self) -> WorkerKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

"""A recognizer's guesses for every clip of a folder, computed in a background thread.

Clips the page asks about go first (the clip on screen and the next ones),
then the rest in folder order. Each clip is preprocessed as evaluation does
(the checkpoint's clip length, frame step, resize, padding to a square), so
a guess here is what ``hoopsense evaluate`` would predict.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from hoopsense.devices import usable_cores
from hoopsense.errors import HoopsenseError
from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig
from hoopsense.training.augment import prepare_clip
from hoopsense.training.formats import FIT_BY_FORMAT
from hoopsense.video import read_frames

log = logging.getLogger(__name__)


class Guesser:
    """Class probabilities per clip id, filled in by a daemon thread (:meth:`start`)."""

    def __init__(self, checkpoint: str | Path, clips: Sequence[str], paths: dict[str, Path], device: str = "auto"):
        self.recognizer = Recognizer(RecognizerConfig(str(checkpoint), device=device))
        self.labels = self.recognizer.labels
        self.name = Path(checkpoint).name
        self._order = list(clips)
        self._paths = paths
        self._probs: dict[str, np.ndarray] = {}
        self._failed: set[str] = set()
        self._urgent: deque[str] = deque(maxlen=16)
        self._log: list[str] = []  # clips in the order their guesses were made
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def done(self) -> int:
        return len(self._log)

    @property
    def total(self) -> int:
        return len(self._order)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hoopsense-guesses", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def ask(self, clips: Sequence[str]) -> None:
        """Compute these clips' guesses next (most urgent first)."""
        with self._lock:
            for clip in reversed(clips):
                if clip not in self._probs and clip not in self._failed:
                    self._urgent.appendleft(clip)
        self._wake.set()

    def probs(self, clip: str) -> np.ndarray | None:
        return self._probs.get(clip)

    def since(self, position: int) -> list[tuple[str, int, float]]:
        """``(clip, top class, its probability)`` of the guesses made after the first ``position``."""
        with self._lock:
            new = self._log[position:]
        out = []
        for clip in new:
            p = self._probs[clip]
            top = int(p.argmax())
            out.append((clip, top, float(p[top])))
        return out

    def top(self, clip: str, k: int = 3) -> list[tuple[str, float]] | None:
        p = self._probs.get(clip)
        if p is None:
            return None
        order = np.argsort(-p)[:k]
        return [(self.labels[i], float(p[i])) for i in order]

    def _next(self) -> str | None:
        with self._lock:
            while self._urgent:
                clip = self._urgent.popleft()
                if clip not in self._probs and clip not in self._failed:
                    return clip
            for clip in self._order:
                if clip not in self._probs and clip not in self._failed:
                    return clip
        return None

    def _run(self) -> None:
        torch.set_num_threads(max(1, usable_cores() - 1))  # leave a core to the server
        meta = self.recognizer.meta
        while not self._stop.is_set():
            clip = self._next()
            if clip is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                frames = read_frames(self._paths[clip], max_frames=2000)
                x = prepare_clip(
                    frames,
                    clip_len=meta.clip_len,
                    frame_step=meta.frame_step,
                    resize=meta.resize,
                    crop_size=meta.crop_size,
                    fit_mode=FIT_BY_FORMAT["spacejam"],
                    fill=self.recognizer.fill,
                )
                probs = self.recognizer.predict_clips([x])[0]
            except HoopsenseError as exc:
                log.warning("no guess for clip %s: %s", clip, exc)
                with self._lock:
                    self._failed.add(clip)
                continue
            with self._lock:
                self._probs[clip] = probs
                self._log.append(clip)

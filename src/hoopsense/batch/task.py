"""One game of a batch: analyse it into a staging folder, then rename the folder into place.

The output folder ``DIR/<name>/`` appears only when the game is finished (a
rename), so a folder that exists is complete, and an interrupted game leaves
only the hidden staging folder ``DIR/.<name>.partial/``, which the next
attempt removes. ``<name>.batch.json`` in the folder records what was
analysed with which options; a later batch skips the game only when the
video and the options are the same and every file of the run is still there.

While a game runs, ``DIR/.<name>.progress.json`` holds its frames done and
total (and the worker's pid), for progress bars and the service.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoopsense import __version__
from hoopsense.errors import HoopsenseError, OutputError
from hoopsense.outputs import atomic_write_text
from hoopsense.pipeline.options import AnalyzeOptions

MARKER_FORMAT = 1
PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class GameTask:
    """Analyse ``video`` into ``out / name``. ``threads``: torch threads (None: every core the
    process may use). Picklable, so it travels to worker processes and Ray tasks."""

    video: str
    out: str
    name: str
    options: AnalyzeOptions = field(default_factory=AnalyzeOptions)
    render: bool = True
    report: bool = True
    threads: int | None = None

    @property
    def folder(self) -> Path:
        return Path(self.out) / self.name

    @property
    def staging(self) -> Path:
        return Path(self.out) / f".{self.name}.partial"

    @property
    def progress_file(self) -> Path:
        return Path(self.out) / f".{self.name}.progress.json"

    @property
    def old_folder(self) -> Path:
        """Where a finished folder goes for the moment its replacement is renamed into place."""
        return Path(self.out) / f".{self.name}.old"

    @property
    def marker(self) -> Path:
        return self.folder / f"{self.name}.batch.json"

    def options_key(self) -> str:
        """What decides the outputs, as text: the options, and the size and time of the weight files
        they name (a retrained checkpoint at the same path counts as a change)."""
        rec = self.options.recognizer
        files = [self.options.detector.weights, *((rec.checkpoint, rec.fuse) if rec else ())]
        stamps = []
        for f in files:
            try:
                st = Path(f).stat() if f else None
            except OSError:
                st = None
            stamps.append((st.st_size, st.st_mtime_ns) if st else None)
        return repr((self.options, self.render, self.report, stamps))

    def video_key(self) -> dict[str, Any]:
        st = Path(self.video).stat()
        return {"path": str(Path(self.video).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def is_complete(task: GameTask) -> bool:
    """True when ``task``'s folder holds a finished run of the same video with the same options."""
    from hoopsense.pipeline.run_files import RunFiles

    try:
        marker = json.loads(task.marker.read_text(encoding="utf-8"))
        if marker.get("options") != task.options_key() or marker.get("video") != task.video_key():
            return False
        files = RunFiles.find(task.folder / f"{task.name}.run.json")
    except (OSError, ValueError, HoopsenseError):  # anything unreadable means "not complete"
        return False
    if files.record.partial:
        return False
    return all((task.folder / name).exists() for name in files.record.outputs.values() if name)


def read_progress(task: GameTask) -> dict[str, Any] | None:
    """The running game's ``{"done", "total", "pid", ...}``, or None."""
    try:
        return json.loads(task.progress_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def clean_staging(task: GameTask) -> None:
    """Remove what an interrupted attempt left (staging folder, progress file, a half-swapped old folder)."""
    shutil.rmtree(task.staging, ignore_errors=True)
    shutil.rmtree(task.old_folder, ignore_errors=True)
    task.progress_file.unlink(missing_ok=True)


@dataclass
class _Progress:
    task: GameTask
    attempt_started: float = field(default_factory=time.time)
    total: int = 0
    last: float = 0.0

    def write(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        doc = {"done": done, "total": self.total, "pid": os.getpid(), "started": self.attempt_started}
        with contextlib.suppress(OSError):  # progress is informative only
            atomic_write_text(self.task.progress_file, json.dumps(doc))


def run_game(task: GameTask) -> dict[str, Any]:
    """Analyse one game (in this process); returns ``{"frames", "players", "events", "wall_s"}``.

    Raises :class:`~hoopsense.errors.HoopsenseError` for an expected failure;
    the game's folder is then untouched (a previous complete result stays).
    """
    from hoopsense import api
    from hoopsense.runtime import configure_process

    configure_process()
    if task.threads:
        import torch

        torch.set_num_threads(task.threads)
    out = Path(task.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc.strerror or exc}") from None
    clean_staging(task)
    task.staging.mkdir()
    progress = _Progress(task)

    def on_start(meta: object, expected: int) -> None:
        progress.total = expected
        progress.write(0, force=True)

    t0 = time.perf_counter()
    try:
        stem = task.staging / task.name
        result = api.analyze(
            task.video, stem.with_suffix(".mp4") if task.render else stem, options=task.options, render=task.render,
            report=stem.with_name(f"{task.name}.report.html") if task.report else None,
            on_start=on_start, on_frame=progress.write,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        marker = {
            "format_version": MARKER_FORMAT, "video": task.video_key(), "options": task.options_key(),
            "finished": time.time(), "wall_s": round(wall, 3), "hoopsense_version": __version__,
        }  # fmt: skip
        atomic_write_text(task.staging / f"{task.name}.batch.json", json.dumps(marker, indent=1))
        if task.folder.exists():
            os.replace(task.folder, task.old_folder)
        os.replace(task.staging, task.folder)
        shutil.rmtree(task.old_folder, ignore_errors=True)
    except BaseException:
        shutil.rmtree(task.staging, ignore_errors=True)
        raise
    finally:
        task.progress_file.unlink(missing_ok=True)
    return {
        "frames": result.frames, "players": len(result.players), "events": len(result.events), "wall_s": wall,
        "notes": list(result.notes),
    }  # fmt: skip

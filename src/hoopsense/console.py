"""Terminal output shared by the CLI commands: consoles, progress, argument types.

On a terminal, progress is a live bar on stderr; without one (a log file, a CI
job) it is a plain line on stdout every 10% of the work or every 30 s,
whichever comes first, so stderr holds only warnings and errors.
Text that comes from the user (file names, messages quoting them) is never
read as console markup.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

err_console = Console(stderr=True, highlight=False, markup=False, emoji=False)
console = Console(highlight=False, markup=False, emoji=False)

PLAIN_EVERY_S = 30.0
PLAIN_EVERY_FRACTION = 0.1


def finite_float(text: str) -> float:
    """argparse type: a finite number (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


class PlainProgress:
    """The subset of :class:`rich.progress.Progress` the commands use, printed as plain lines."""

    def __init__(self, label: str, unit: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.unit, self.clock = label, unit, clock
        self.console = console  # stdout: a log keeps progress apart from the error line on stderr
        self._tasks: dict[int, dict[str, Any]] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        task = len(self._tasks)
        self._tasks[task] = {
            "total": total,
            "done": 0,
            "t0": self.clock(),
            "last_t": self.clock(),
            "last_f": 0.0,
            **fields,
        }
        return task

    def update(self, task: int, *, completed: float | None = None, **fields: Any) -> None:
        t = self._tasks[task]
        t.update(fields)
        if completed is not None:
            t["done"] = completed
        now, total = self.clock(), t["total"]
        fraction = t["done"] / total if total else 0.0
        if (
            (total and fraction - t["last_f"] >= PLAIN_EVERY_FRACTION)
            or now - t["last_t"] >= PLAIN_EVERY_S
            or (total and t["done"] >= total > 0 and t["last_f"] < 1.0)
        ):
            t["last_t"], t["last_f"] = now, fraction
            self.console.print(self._line(t, now))

    def _line(self, t: dict[str, Any], now: float) -> str:
        elapsed = now - t["t0"]
        parts = []
        if "epoch" in t:
            parts.append(f"epoch {t['epoch']}")
        total = t["total"]
        parts.append(f"{int(t['done'])}/{int(total)} {self.unit}" if total else f"{int(t['done'])} {self.unit}")
        if total:
            parts.append(f"({100 * t['done'] / total:.0f}%)")
        if "fps" in t:
            parts.append(f"{t['fps']:.1f} fps")
        if "loss" in t:
            parts.append(f"loss {t['loss']:.4f}")
        parts.append(f"{elapsed:.0f} s elapsed")
        if total and 0 < t["done"] < total:
            parts.append(f"about {elapsed * (total - t['done']) / t['done']:.0f} s left")
        return f"{self.label}: " + " ".join(parts)


def run_progress(label: str, quiet: bool) -> Progress | PlainProgress:
    """Frame progress of ``analyze`` and ``clips``: a bar on a terminal, plain lines otherwise."""
    if not quiet and not err_console.is_terminal:
        return PlainProgress(label, "frames")
    return Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
        TextColumn("{task.fields[fps]:>5.1f} fps"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err_console, disable=quiet,
    )  # fmt: skip


def progress_callbacks(progress: Progress | PlainProgress) -> tuple[Callable[..., None], Callable[[int], None]]:
    state: dict[str, Any] = {}

    def on_start(meta: object, expected: int) -> None:
        state["task"] = progress.add_task("run", total=expected or None, fps=0.0)
        state["t0"] = time.perf_counter()

    def on_frame(done: int) -> None:
        elapsed = time.perf_counter() - state["t0"]
        progress.update(state["task"], completed=done, fps=done / elapsed if elapsed > 0 else 0.0)

    return on_start, on_frame


def epoch_progress() -> Progress | PlainProgress:
    """Training progress: one bar per epoch with its steps and running loss (plain lines without a terminal)."""
    if not err_console.is_terminal:
        return PlainProgress("training", "steps")
    return Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
        TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err_console,
    )  # fmt: skip

"""Terminal output shared by the CLI commands: consoles, progress bars, argument types."""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

err_console = Console(stderr=True, highlight=False)
console = Console(highlight=False)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def run_progress(label: str, quiet: bool) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
        TextColumn("{task.fields[fps]:>5.1f} fps"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err_console, disable=quiet,
    )


def progress_callbacks(progress: Progress):  # noqa: ANN202
    state: dict[str, object] = {}

    def on_start(meta, expected: int) -> None:  # noqa: ANN001
        state["task"] = progress.add_task("run", total=expected or None, fps=0.0)
        state["t0"] = time.perf_counter()

    def on_frame(done: int) -> None:
        elapsed = time.perf_counter() - state["t0"]  # type: ignore[operator]
        progress.update(state["task"], completed=done, fps=done / elapsed if elapsed > 0 else 0.0)  # type: ignore[arg-type]

    return on_start, on_frame


def epoch_progress() -> Progress:
    """Training progress: one bar per epoch with its steps and running loss."""
    return Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
        TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err_console,
    )

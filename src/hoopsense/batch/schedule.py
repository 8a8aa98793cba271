"""Run many games on an executor: skip finished ones, retry a failure once, report each game's end.

:func:`run_batch` is what ``hoopsense batch`` does; the service feeds the
same executors one job at a time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hoopsense.batch.executors import Attempt, Executor, Outcome
from hoopsense.batch.games import Game
from hoopsense.batch.task import GameTask, clean_staging, is_complete, read_progress
from hoopsense.errors import ConfigError, Interrupted
from hoopsense.pipeline.options import AnalyzeOptions

POLL_S = 0.2


@dataclass
class GameState:
    """Where one game stands. ``fraction``: share of its frames done while it runs."""

    game: Game
    task: GameTask
    status: str = "queued"
    attempts: int = 0
    error: str | None = None
    info: dict | None = None
    fraction: float = 0.0


def plan(
    games: Sequence[Game], out: Path, options: AnalyzeOptions, *, render: bool = True, report: bool = True,
    force: bool = False,
) -> list[GameState]:  # fmt: skip
    """Each game's task, marked ``skipped`` when its outputs are complete (and not ``force``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; batch writes a folder (one sub-folder per game)")
    states = []
    for game in games:
        task = GameTask(str(game.video), str(out), game.name, options, render, report)
        try:
            game.video.resolve().relative_to(task.folder.resolve())
            raise ConfigError(f"{game.video} lies in its own output folder {task.folder}; choose another --out")
        except ValueError:
            pass
        done = not force and is_complete(task)
        states.append(GameState(game, task, "skipped" if done else "queued"))
    return states


def run_batch(
    states: list[GameState], executor: Executor, *, on_update: Callable[[list[GameState]], None] | None = None,
    retries: int = 1,
) -> list[GameState]:  # fmt: skip
    """Run every ``queued`` game of ``states`` (updated in place, also returned).

    A failed game is tried again until it has had ``retries`` + 1 attempts
    (Ray's own retry after a dead worker counts). Ctrl-C cancels the running games, removes their staging folders and
    raises :class:`~hoopsense.errors.Interrupted`; finished games stay.
    """
    pending = deque(s for s in states if s.status == "queued")
    running: dict[int, tuple[GameState, Attempt]] = {}
    try:
        while pending or running:
            while pending and len(running) < executor.capacity:
                state = pending.popleft()
                state.status, state.attempts = "running", state.attempts + 1
                running[id(state)] = (state, executor.start(state.task))
            for key, (state, attempt) in list(running.items()):
                outcome = attempt.poll()
                if outcome is None:
                    p = read_progress(state.task)
                    if p and p.get("total"):
                        state.fraction = min(1.0, p["done"] / p["total"])
                    continue
                del running[key]
                _finish(state, outcome, pending, retries)
            if on_update is not None:
                on_update(states)
            if running:
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        for state, attempt in running.values():
            attempt.cancel()
            clean_staging(state.task)
            state.status = "cancelled"
        if on_update is not None:
            on_update(states)
        done = sum(s.status == "done" for s in states)
        raise Interrupted(f"stopped; {done} games finished, the others were not written") from None
    return states


def _finish(state: GameState, outcome: Outcome, pending: deque, retries: int) -> None:
    state.attempts += outcome.attempts - 1
    if outcome.ok:
        state.status, state.info, state.fraction, state.error = "done", outcome.info, 1.0, None
        return
    clean_staging(state.task)
    if state.attempts <= retries:
        state.status = "queued"
        pending.appendleft(state)
        return
    state.status, state.error, state.fraction = "failed", outcome.error or "failed", 0.0

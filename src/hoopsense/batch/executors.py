"""Where games run: local worker processes, or tasks on a Ray cluster.

Both give the scheduler the same two calls: :meth:`start` a game's attempt,
then :meth:`Attempt.poll` it until it returns an :class:`Outcome` (or
:meth:`Attempt.cancel` it). A local worker is a fresh ``spawn`` process per
attempt, pinned to its share of the cores, so a crash, a kill or a cancel
touches one game only. On Ray each game is one task with its CPU/GPU
request; Ray itself retries it once when its worker or node dies
(``max_retries``), and the scheduler retries a game that failed with an error,
as it does for local workers (Ray's own retry of errors would print the
worker's traceback to the user).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from hoopsense.batch.task import GameTask, run_game
from hoopsense.devices import usable_cores
from hoopsense.errors import ConfigError, HoopsenseError, first_line
from hoopsense.outputs import atomic_write_text


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: ``ok``, else ``error`` (one line). ``attempts``: tries it took (2 when the
    engine retried it already)."""

    ok: bool
    error: str | None = None
    info: dict[str, Any] | None = None
    attempts: int = 1


class Attempt(Protocol):
    def poll(self) -> Outcome | None: ...

    def cancel(self) -> None: ...


class Executor(Protocol):
    name: str
    capacity: int  # games that may run at once (the scheduler never starts more)

    def start(self, task: GameTask) -> Attempt: ...

    def close(self) -> None: ...


def describe_error(exc: BaseException) -> str:
    """One line for a failed game: the message of an expected error, else the exception's type too."""
    if isinstance(exc, HoopsenseError):
        return " ".join(str(exc).split())
    return f"{type(exc).__name__}: {first_line(exc)}"


# ---------------------------------------------------------------- local processes


def _die_with(parent: int) -> None:
    """Linux: this process gets SIGKILL when its parent dies (a ``kill -9`` of the driver or the service
    leaves no worker writing on its own)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _worker_main(task: GameTask, result_path: str, cores: list[int] | None, parent: int) -> None:
    """In the worker process: run the game and write ``{"ok", "error", "info"}`` to ``result_path``."""
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver stops the workers it started
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    try:
        doc: dict[str, Any] = {"ok": True, "info": run_game(task)}
    except BaseException as exc:  # every failure is reported; none leaves the worker silently
        doc = {"ok": False, "error": describe_error(exc)}
    atomic_write_text(result_path, json.dumps(doc))


class LocalAttempt:
    def __init__(self, executor: LocalExecutor, task: GameTask, slot: int) -> None:
        self.executor, self.slot = executor, slot
        fd, self.result_path = tempfile.mkstemp(prefix="hoopsense-game-", suffix=".json")
        os.close(fd)
        os.unlink(self.result_path)
        ctx = multiprocessing.get_context("spawn")
        self.process = ctx.Process(
            target=_worker_main,
            args=(task, self.result_path, executor.cores_of(slot), os.getpid()),
            name=f"hoopsense-{task.name}",
        )
        self.process.start()
        self._outcome: Outcome | None = None

    def poll(self) -> Outcome | None:
        if self._outcome is not None:
            return self._outcome
        if self.process.is_alive():
            return None
        self.process.join()
        try:
            with open(self.result_path, encoding="utf-8") as f:
                doc = json.load(f)
            outcome = Outcome(bool(doc["ok"]), doc.get("error"), doc.get("info"))
        except (OSError, ValueError, KeyError):
            code = self.process.exitcode
            why = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            outcome = Outcome(False, f"the worker process died ({why})")
        self._finish(outcome)
        return outcome

    def _finish(self, outcome: Outcome) -> None:
        self._outcome = outcome
        if os.path.exists(self.result_path):
            os.unlink(self.result_path)
        self.executor.release(self.slot)

    def cancel(self) -> None:
        if self._outcome is None:
            self.process.kill()
            self.process.join()
            self._finish(Outcome(False, "cancelled"))


class LocalExecutor:
    """``jobs`` games at once, each in its own process on ``cores // jobs`` of the usable cores."""

    name = "local"

    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise ConfigError(f"--jobs must be at least 1, got {jobs}", field="jobs")
        self.capacity = jobs
        self._cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self._free = list(range(jobs))

    def cores_of(self, slot: int) -> list[int] | None:
        """The cores of worker slot ``slot``; None (no pinning) when there are more jobs than cores."""
        per = len(self._cores) // self.capacity
        if per < 1:
            return None
        return self._cores[slot * per : (slot + 1) * per]

    def release(self, slot: int) -> None:
        self._free.append(slot)

    def start(self, task: GameTask) -> LocalAttempt:
        if not self._free:
            raise RuntimeError("no free worker slot")  # the scheduler never starts more than capacity
        return LocalAttempt(self, task, self._free.pop(0))  # torch takes the cores it is pinned to

    def close(self) -> None:
        return None


# ---------------------------------------------------------------- Ray


def _ray_game(task: GameTask) -> dict[str, Any]:
    """The body of a game's Ray task: a failure is raised as a plain error (any worker can unpickle it)."""
    if not Path(task.video).is_file():
        import socket

        raise RuntimeError(
            f"{task.video} is not visible on node {socket.gethostname()}; put the games on storage every node mounts"
        )
    try:
        return run_game(task)
    except HoopsenseError as exc:
        raise RuntimeError(describe_error(exc)) from None


class RayAttempt:
    def __init__(self, executor: RayExecutor, task: GameTask) -> None:
        self.ray = executor.ray
        self.ref = executor.remote.remote(task)
        self._outcome: Outcome | None = None

    def poll(self) -> Outcome | None:
        if self._outcome is not None:
            return self._outcome
        ready, _ = self.ray.wait([self.ref], timeout=0)
        if not ready:
            return None
        try:
            info = self.ray.get(self.ref)
            self._outcome = Outcome(True, info=info, attempts=1)
        except self.ray.exceptions.TaskCancelledError:
            self._outcome = Outcome(False, "cancelled")
        except self.ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            self._outcome = Outcome(False, first_line(cause))
        except self.ray.exceptions.RayError as exc:  # the worker or its node died twice
            self._outcome = Outcome(False, f"{type(exc).__name__}: {first_line(exc)}", attempts=2)
        return self._outcome

    def cancel(self) -> None:
        if self._outcome is None:
            self.ray.cancel(self.ref, force=True)
            self._outcome = Outcome(False, "cancelled")


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """One clear line, fast, when nothing listens at ``host:port`` (Ray itself retries for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray {address}: expected HOST:PORT, 'auto' or 'local'")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); is `ray start` running there?"
        ) from None


class RayExecutor:
    """Games as Ray tasks on the cluster at ``address`` (``auto``: the one this machine belongs to;
    ``local``: start one on this machine for the run)."""

    name = "ray"

    def __init__(self, address: str, *, cpus_per_game: float = 1.0, gpus_per_game: float = 0.0) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--ray needs Ray: pip install 'hoopsense[ray]'") from None
        if cpus_per_game <= 0 or gpus_per_game < 0:
            raise ConfigError("--cpus-per-game must be > 0 and --gpus-per-game >= 0")
        self.ray = ray
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address not in ("local", "auto"):
            _check_reachable(address)
        try:
            if address == "local":
                ray.init(num_cpus=usable_cores(), **kwargs)
            else:
                ray.init(address=address, **kwargs)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"cannot reach the Ray cluster at {address}: {first_line(exc)}") from None
        resources = ray.cluster_resources()
        if gpus_per_game > 0 and resources.get("GPU", 0) < gpus_per_game:
            ray.shutdown()
            raise ConfigError(f"--gpus-per-game {gpus_per_game}: the Ray cluster has {resources.get('GPU', 0):g} GPUs")
        if resources.get("CPU", 0) < cpus_per_game:
            ray.shutdown()
            raise ConfigError(f"--cpus-per-game {cpus_per_game}: the Ray cluster has {resources.get('CPU', 0):g} CPUs")
        self.capacity = 1 << 30  # Ray queues the tasks its cluster cannot run yet
        self.threads = max(1, int(cpus_per_game))
        self.remote = ray.remote(_ray_game).options(
            num_cpus=cpus_per_game, num_gpus=gpus_per_game, max_retries=1, retry_exceptions=False,
            name="hoopsense-game",
        )  # fmt: skip

    def start(self, task: GameTask) -> RayAttempt:
        return RayAttempt(self, replace(task, threads=self.threads))

    def close(self) -> None:
        self.ray.shutdown()


def make_executor(
    jobs: int = 1, ray: str | None = None, *, cpus_per_game: float = 1.0, gpus_per_game: float = 0.0
) -> Executor:
    """Local worker processes, or Ray when ``ray`` names a cluster address (or ``auto``/``local``)."""
    if ray:
        return RayExecutor(ray, cpus_per_game=cpus_per_game, gpus_per_game=gpus_per_game)
    if gpus_per_game:
        raise ConfigError("--gpus-per-game needs --ray (local workers share this machine's GPUs)")
    if cpus_per_game != 1.0:
        raise ConfigError("--cpus-per-game needs --ray (local workers share the cores: see --jobs)")
    return LocalExecutor(jobs)

"""Start the analysis service: open the job store, start the job runner, bind, print the URL, serve."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hoopsense.errors import ConfigError, OutputError

TOKEN_ENV = "HOOPSENSE_TOKEN"


@dataclass(frozen=True)
class ServiceOptions:
    """``root``: the folder whose videos (and weights) clients may name; ``data``: the service's own
    folder (``jobs.sqlite3``, uploads, job outputs); ``max_upload_mb``: largest upload."""

    host: str = "127.0.0.1"
    port: int = 8000
    root: Path = Path(".")
    data: Path = Path("hoopsense-service")
    jobs: int = 1
    ray: str | None = None
    cpus_per_game: float = 1.0
    gpus_per_game: float = 0.0
    max_upload_mb: float = 4096.0


def check_video(path: Path) -> None:
    """Raise :class:`~hoopsense.errors.VideoError` unless ``path`` is a video whose first frame decodes."""
    from hoopsense.video import read_frames

    read_frames(path, max_frames=1)


def serve(options: ServiceOptions, *, on_ready: Callable[[str, int], None]) -> None:
    """Serve until Ctrl-C (or SIGTERM); ``on_ready(url, jobs_listed)`` once the socket listens."""
    import uvicorn

    from hoopsense.batch.executors import make_executor
    from hoopsense.batch.task import GameTask
    from hoopsense.serve.app import create_app
    from hoopsense.serve.options import parse_options
    from hoopsense.serve.runner import Runner, job_folder
    from hoopsense.serve.store import Job, JobStore
    from hoopsense.web import bind, new_token, url_of

    root = Path(options.root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"--root {root} is not a folder")
    if options.max_upload_mb <= 0:
        raise ConfigError(f"--max-upload-mb must be > 0, got {options.max_upload_mb}")
    data = Path(options.data).expanduser()
    try:
        (data / "jobs").mkdir(parents=True, exist_ok=True)
        (data / "uploads").mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot use --data {data}: {exc.strerror or exc}") from None
    store = JobStore(data / "jobs.sqlite3")

    def make_task(job: Job) -> GameTask:
        parsed, render, report = parse_options(job.options, root)
        return GameTask(job.video, str(job_folder(data, job)), job.name, parsed, render, report)

    sock = bind(options.host, options.port)
    executor = make_executor(
        options.jobs, options.ray, cpus_per_game=options.cpus_per_game, gpus_per_game=options.gpus_per_game
    )  # fmt: skip
    runner = Runner(store, executor, make_task)
    token = os.environ.get(TOKEN_ENV) or new_token()
    app = create_app(
        store, runner, token=token, root=root, data=data, max_upload=int(options.max_upload_mb * 1024 * 1024),
        check_video=check_video,
    )  # fmt: skip
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    runner.start()
    try:
        on_ready(url_of(sock, token, "/docs"), len(store.jobs()))
        server.run(sockets=[sock])
    finally:
        runner.stop()
        store.close()
        sock.close()

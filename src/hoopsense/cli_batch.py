"""``hoopsense batch`` (many games, locally or on Ray) and ``hoopsense serve`` (the HTTP API): parsers and handlers.

Errors are raised as :class:`~hoopsense.errors.HoopsenseError`; :mod:`hoopsense.cli`
turns them into exit codes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hoopsense.cli_options import ANALYZE_FLAGS, add_analysis_options, analyze_options, errors_in_flags
from hoopsense.console import console, err_console, positive_float
from hoopsense.errors import HoopsenseError


def add_executor_options(p: argparse.ArgumentParser) -> None:
    """Where the games run (``batch`` and ``serve`` alike): local worker processes or a Ray cluster."""
    p.add_argument("--jobs", type=int, default=1, help="games at once in local worker processes (default: 1)")
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run on a Ray cluster: its address (host:port), 'auto' (the cluster of this machine) or 'local' "
        "(start one here)",
    )
    p.add_argument(
        "--cpus-per-game", type=positive_float, default=1.0, help="CPUs each game's Ray task requests (default: 1)"
    )
    p.add_argument(
        "--gpus-per-game",
        type=positive_float,
        default=0.0,
        help="GPUs (or a fraction) each game's Ray task requests (default: 0)",
    )


def add_batch_parsers(sub: Any) -> None:
    b = sub.add_parser(
        "batch",
        help="analyse many games (a season) with the same options, in local worker processes or on a Ray cluster",
        description="Analyse every game into DIR/<game>/ (video, tracks, timeline, report) and write a season "
        "summary (DIR/season.csv, DIR/season.json). A game whose outputs are complete is skipped; an interrupted "
        "one is redone. A failed game is retried once, then reported; the others go on.",
    )
    b.add_argument("games", nargs="+", help="video files, folders, glob patterns ('season/*.mp4') or .txt lists")
    b.add_argument("--out", type=Path, required=True, help="output folder (one sub-folder per game)")
    add_executor_options(b)
    b.add_argument("--force", action="store_true", help="redo games whose outputs are complete")
    b.add_argument("--no-video", action="store_true", help="no annotated videos; tracks, timelines and reports only")
    b.add_argument("--no-report", action="store_true", help="no coach report per game")
    add_analysis_options(b)
    b.add_argument("--quiet", action="store_true", help="no progress bar")


def add_serve_parser(sub: Any) -> None:
    s = sub.add_parser(
        "serve",
        help="an HTTP API that analyses games as jobs (OpenAPI docs at /docs), for other programs",
        description="Serve the analysis API. Jobs live in DATA/jobs.sqlite3 and survive restarts; their outputs "
        "go to DATA/jobs/<id>/. Every request needs the token in the printed URL (Authorization: Bearer TOKEN, "
        "an X-Token header or ?token=); set HOOPSENSE_TOKEN to keep one token across restarts.",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    s.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks any free port)")
    s.add_argument(
        "--root", type=Path, default=Path("."), help="folder whose videos and weights clients may name (default: .)"
    )
    s.add_argument(
        "--data",
        type=Path,
        default=Path("hoopsense-service"),
        help="the service's folder: job database, uploads, outputs (default: ./hoopsense-service)",
    )
    add_executor_options(s)
    s.add_argument(
        "--max-upload-mb", type=positive_float, default=4096.0, help="largest video upload in MB (default: 4096)"
    )


def serve_command(args: argparse.Namespace) -> int:
    from hoopsense.serve.launch import ServiceOptions, serve

    options = ServiceOptions(
        args.host, args.port, args.root, args.data, args.jobs, args.ray, args.cpus_per_game, args.gpus_per_game,
        args.max_upload_mb,
    )  # fmt: skip

    def ready(url: str, listed: int) -> None:
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            err_console.print(
                f"warning: listening on {args.host}: anyone who can reach it and has the token can run jobs",
                soft_wrap=True,
            )
        console.print(f"hoopsense service: {listed} jobs in {args.data}; videos from {args.root.resolve()}")
        console.print(f"open {url}", soft_wrap=True)
        console.print("(Ctrl-C stops; running jobs are marked interrupted and can be re-run)")

    serve(options, on_ready=ready)
    return 0


def batch_command(args: argparse.Namespace) -> int:
    from hoopsense.batch.executors import make_executor
    from hoopsense.batch.games import find_games
    from hoopsense.batch.schedule import plan, run_batch
    from hoopsense.batch.summary import write_summary

    with errors_in_flags(ANALYZE_FLAGS):
        options = analyze_options(args)
    games = find_games(args.games)
    states = plan(games, args.out, options, render=not args.no_video, report=not args.no_report, force=args.force)
    todo = [s for s in states if s.status == "queued"]
    skipped = len(states) - len(todo)
    if skipped:
        console.print(f"{skipped} of {len(states)} games already complete in {args.out} (--force redoes them)")
    if not todo:
        console.print("nothing to do")
        write_summary(args.out, states)
        return 0
    executor = make_executor(
        args.jobs, args.ray, cpus_per_game=args.cpus_per_game, gpus_per_game=args.gpus_per_game
    )  # fmt: skip
    progress = _batch_progress(args.quiet)
    try:
        with progress:
            bar = progress.add_task("games", total=len(todo))
            reported: set[int] = set()
            notes: set[str] = set()

            def on_update(current) -> None:
                finished = [s for s in current if s.status in ("done", "failed")]
                for s in finished:
                    if id(s) not in reported:
                        reported.add(id(s))
                        if s.status == "failed":
                            err_console.print(f"failed: {s.game.name}: {s.error}", soft_wrap=True)
                        elif not args.quiet:
                            progress.console.print(f"done: {s.game.name} ({s.info.get('wall_s', 0):.0f} s)")
                        for note in (s.info or {}).get("notes", ()):
                            if note not in notes:
                                notes.add(note)
                                err_console.print(f"note: {note}", soft_wrap=True)
                partly = sum(s.fraction for s in current if s.status == "running")
                progress.update(bar, completed=len(finished) + partly)

            run_batch(states, executor, on_update=on_update)
    finally:
        executor.close()
    paths = write_summary(args.out, states)
    failed = [s for s in states if s.status == "failed"]
    done = sum(s.status == "done" for s in states)
    console.print(
        f"{done} games analysed, {skipped} skipped, {len(failed)} failed; summary: {paths[0]}, {paths[1]}",
        soft_wrap=True,
    )
    if failed:
        raise HoopsenseError(f"{len(failed)} of {len(states)} games failed: " + ", ".join(s.game.name for s in failed))
    return 0


def _batch_progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TextColumn("games"), TimeElapsedColumn(),
        console=err_console, disable=quiet or not err_console.is_terminal,
    )  # fmt: skip

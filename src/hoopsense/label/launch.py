"""Start the labelling app: open the folder's labels, bind the socket, print the URL, serve with uvicorn."""

from __future__ import annotations

import os
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hoopsense.errors import ConfigError, OutputError
from hoopsense.label.order import CACHE, Coverage
from hoopsense.label.store import ANNOTATIONS, LOCK, LabelStore
from hoopsense.web import bind, new_token, url_of


@dataclass(frozen=True)
class LabelServerOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    open_browser: bool = True
    recognizer: Path | None = None
    device: str = "auto"


def open_store(folder: Path) -> LabelStore:
    """The folder's label store, after checking that labels can be saved there."""
    store = LabelStore(folder)
    if not store.clips:
        raise ConfigError(
            f"{folder} has no clips to label: none of the {store.missing} ids in {ANNOTATIONS} has an <id>.mp4 "
            "here or in examples/ (augmented copies <id>_*.mp4 take their original's label)"
        )
    for path in (folder, folder / ANNOTATIONS):
        if path.exists() and not os.access(path, os.W_OK):
            raise OutputError(
                f"cannot save labels in {folder}: {path.name} is read-only; copy the folder somewhere writable"
            )
    try:
        (folder / LOCK).touch()
    except OSError as exc:
        raise OutputError(f"cannot save labels in {folder}: {exc.strerror or exc}") from None
    return store


def serve(folder: Path, options: LabelServerOptions, *, on_ready: Callable[[str, LabelStore], None]) -> None:
    """Serve the labeller of ``folder`` until Ctrl-C (or SIGTERM); ``on_ready(url, store)`` is called
    once the socket listens."""
    import uvicorn

    from hoopsense.label.server import create_app

    store = open_store(folder)
    paths = {c: store.clip_path(c) for c in store.clips}
    guesser = None
    if options.recognizer is not None:
        from hoopsense.label.guesses import Guesser

        guesser = Guesser(options.recognizer, store.clips, paths, options.device)
    coverage = Coverage(store.clips, paths, cache=folder / CACHE)
    sock = bind(options.host, options.port)
    token = new_token()
    app = create_app(store, token, guesser, coverage)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    url = url_of(sock, token)
    if guesser is not None:
        guesser.start()
    coverage.start()
    on_ready(url, store)
    if options.open_browser:
        webbrowser.open(url)
    try:
        server.run(sockets=[sock])
    finally:
        if guesser is not None:
            guesser.stop()
        coverage.stop()
        sock.close()

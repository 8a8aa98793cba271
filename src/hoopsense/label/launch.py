"""Start the labelling app: open the folder's labels, bind the socket, print the URL, serve with uvicorn."""

from __future__ import annotations

import errno
import os
import socket
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hoopsense.errors import ConfigError, OutputError
from hoopsense.label.store import ANNOTATIONS, LOCK, LabelStore


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


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port), or one clear error."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be in [0, 65535], got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host!r} is not an address of this machine ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is in use; choose another with --port (0: any free port)"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, token: str) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def serve(folder: Path, options: LabelServerOptions, *, on_ready: Callable[[str, LabelStore], None]) -> None:
    """Serve the labeller of ``folder`` until Ctrl-C (or SIGTERM); ``on_ready(url, store)`` is called
    once the socket listens."""
    import uvicorn

    from hoopsense.label.server import create_app, new_token

    store = open_store(folder)
    guesser = None
    if options.recognizer is not None:
        from hoopsense.label.guesses import Guesser

        guesser = Guesser(options.recognizer, store.clips, {c: store.clip_path(c) for c in store.clips}, options.device)
    sock = bind(options.host, options.port)
    token = new_token()
    app = create_app(store, token, guesser)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    url = url_of(sock, token)
    if guesser is not None:
        guesser.start()
    on_ready(url, store)
    if options.open_browser:
        webbrowser.open(url)
    try:
        server.run(sockets=[sock])
    finally:
        if guesser is not None:
            guesser.stop()
        sock.close()

"""What the local web servers (the labeller, the analysis service) share: the listening socket, the
per-launch token and the URL that carries it."""

from __future__ import annotations

import errno
import secrets
import socket
from collections.abc import Mapping

from hoopsense.errors import ConfigError


def given_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """The token a request carries: ``Authorization: Bearer T``, an ``X-Token`` header or ``?token=T``
    ("" when none)."""
    auth = headers.get("authorization", "")
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    return bearer or headers.get("x-token") or query.get("token") or ""


def token_matches(given: str, token: str) -> bool:
    """Constant-time comparison of a request's token with the launch's."""
    return secrets.compare_digest(given.encode(), token.encode())


def new_token() -> str:
    """A random per-launch token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


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


def url_of(sock: socket.socket, token: str, path: str = "/") -> str:
    """``http://host:port<path>?token=...`` of a listening socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}?token={token}"

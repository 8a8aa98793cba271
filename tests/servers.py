"""Run a hoopsense server as a user does: a real process, its printed URL, real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode, urlsplit


def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies, so no server outlives a crashed test run."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Server:
    """``hoopsense <command> ...`` in a subprocess; :attr:`url` is the URL it printed (with its token)."""

    def __init__(self, *args: str | Path, timeout: float = 90.0) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hoopsense.cli", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.output: list[str] = []
        self.url = self._wait_for_url(timeout)
        parts = urlsplit(self.url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.token = dict(p.split("=", 1) for p in parts.query.split("&"))["token"]
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"server exited ({self.proc.wait()}): {''.join(self.output)}")
            self.output.append(line)
            m = re.search(r"(http://\S+token=\S+)", line)
            if m:
                return m.group(1)
        self.kill()
        raise AssertionError(f"no URL printed within {timeout} s: {''.join(self.output)}")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def request(self, method: str, path: str, body=None, *, token: str | None = "", params=None, headers=None):
        """``(status, parsed JSON or bytes)``; ``token=None`` sends none, ``""`` sends the right one."""
        query = dict(params or {})
        if token is not None:
            query["token"] = token or self.token
        url = self.base + path + (f"?{urlencode(query)}" if query else "")
        data = None
        hdrs = dict(headers or {})
        if isinstance(body, bytes):
            data = body
            hdrs.setdefault("Content-Type", "application/octet-stream")
        elif isinstance(body, str):
            data, hdrs["Content-Type"] = body.encode(), "text/csv"
        elif body is not None:
            data, hdrs["Content-Type"] = json.dumps(body).encode(), "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, raw, kind = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, raw, kind = e.code, e.read(), e.headers.get("Content-Type", "")
        return status, (json.loads(raw) if "json" in kind else raw)

    def kill(self) -> None:
        """``kill -9``: no chance to clean up."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

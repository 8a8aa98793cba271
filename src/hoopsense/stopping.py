"""Stopping long commands promptly: Ctrl-C and SIGTERM, even in the middle of a long torch step.

Python runs a signal handler only between bytecodes, so a Ctrl-C that lands
in a 10-second convolution backward waits for it. :func:`prompt_stop` turns
SIGTERM into the same ``KeyboardInterrupt`` as Ctrl-C, and watches for either
signal from a helper thread (through :func:`signal.set_wakeup_fd`, which the
interpreter writes to the moment a signal arrives). When the main thread has
not finished stopping ``grace_s`` seconds later, the watcher prints the
command's message, ends the worker processes and exits with code 130. Files
are only ever renamed into place when complete, so exiting then loses only
the step in flight.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def end_children(timeout_s: float = 2.0) -> None:
    """Terminate (then kill) every child process this process started, e.g. DataLoader workers."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout_s)
        if child.is_alive():
            child.kill()


@contextmanager
def prompt_stop(message: Callable[[], str], *, grace_s: float = 3.0) -> Iterator[None]:
    """Within the block, Ctrl-C or SIGTERM stops the command within about ``grace_s`` seconds.

    ``message()`` is the line printed (to stderr, prefixed ``interrupted:``)
    if the watcher has to end the process itself. Only works in the main
    thread; elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    done = threading.Event()
    reader, writer = socket.socketpair()
    reader.settimeout(None)
    writer.setblocking(False)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, on_sigterm)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def watch() -> None:
        while True:  # other signals (SIGCHLD of the loader's workers) write here too
            try:
                data = reader.recv(64)
            except OSError:
                return
            if done.is_set() or not data:
                return
            if any(b in (signal.SIGINT, signal.SIGTERM) for b in data):
                break
        if done.wait(grace_s):
            return
        try:
            sys.stderr.write(f"interrupted: {message()}\n")
            sys.stderr.flush()
        finally:
            end_children()
            os._exit(130)

    watcher = threading.Thread(target=watch, name="hoopsense-stop", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(previous_fd)
        with contextlib.suppress(OSError):
            writer.send(b"\0")  # wake the watcher so it sees the block has ended
        watcher.join(1.0)
        signal.signal(signal.SIGTERM, previous_term)
        writer.close()
        reader.close()

"""Atomic output files: write under a temporary name, rename when complete.

An :class:`OutputSet` hands out temporary paths for the files of one run.
``commit()`` renames them all to their final names; ``commit_partial()``
renames them to ``<stem>.partial<suffix>`` (for an interrupted run);
``discard()`` deletes them. A run that fails never leaves a file under a
final name that looks complete. :func:`atomic_folder` does the same for a
folder of results.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hoopsense.errors import OutputError


def partial_name(path: Path) -> Path:
    """``game.mp4`` -> ``game.partial.mp4``; ``game.tracks.csv`` -> ``game.tracks.partial.csv``."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


class OutputSet:
    """The temporary and final paths of one run's outputs."""

    def __init__(self) -> None:
        self._items: list[tuple[Path, Path]] = []

    def reserve(self, final: str | Path) -> Path:
        """Check that ``final`` can be written and return the temporary path to write instead.

        The temporary file keeps the final suffix so muxers pick the right format.
        Raises :class:`OutputError` when the folder is missing or not writable,
        or when ``final`` is a folder or was reserved already.
        """
        final = Path(final).expanduser()
        if final.is_dir():
            raise OutputError(f"output path is a folder, expected a file name: {final}")
        parent = final.parent if str(final.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"output folder does not exist: {parent}")
        if any(f.resolve() == final.resolve() for _, f in self._items):
            raise OutputError(f"two outputs would be written to the same file: {final}")
        tmp = parent / f".{final.stem}.{os.getpid()}.tmp{final.suffix}"
        try:
            tmp.touch()
        except OSError as exc:
            raise OutputError(f"cannot write to {parent}: {exc.strerror or exc}") from exc
        self._items.append((tmp, final))
        return tmp

    @property
    def finals(self) -> list[Path]:
        return [final for _, final in self._items]

    def commit(self) -> list[Path]:
        """Rename every temporary file to its final name."""
        for tmp, final in self._items:
            os.replace(tmp, final)
        done = self.finals
        self._items = []
        return done

    def commit_partial(self) -> list[Path]:
        """Rename every temporary file to ``<stem>.partial<suffix>`` beside its final name."""
        done = []
        for tmp, final in self._items:
            target = partial_name(final)
            os.replace(tmp, target)
            done.append(target)
        self._items = []
        return done

    def discard(self) -> None:
        """Delete every temporary file."""
        for tmp, _ in self._items:
            tmp.unlink(missing_ok=True)
        self._items = []


def check_new_folder(final: Path) -> None:
    """Raise :class:`OutputError` unless ``final`` can be created as a new folder (absent, or empty)."""
    final = Path(final)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise OutputError(f"{final} already exists and is not an empty folder; choose a new --out")
    if not final.parent.is_dir():
        raise OutputError(f"output folder does not exist: {final.parent}")


@contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; when the block ends normally it becomes ``final``.

    On any error or interruption the temporary folder is removed, so ``final``
    never holds a half-written result.
    """
    final = Path(final)
    check_new_folder(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            final.rmdir()
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

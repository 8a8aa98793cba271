"""Atomic output files: write under a temporary name, rename when complete; never touch an input.

* :func:`atomic_write` (and :func:`atomic_write_text`) is the one way a single
  file is written: the content goes to a temporary sibling, and only a
  complete file is renamed over the final name, so a crash leaves the old
  file (or none), never half of a new one.
* An :class:`OutputSet` hands out temporary paths for the files of one run.
  ``commit()`` renames them all to their final names; ``commit_partial()``
  renames them to ``<stem>.partial<suffix>`` (for an interrupted run);
  ``discard()`` deletes them. :func:`atomic_folder` does the same for a
  folder of results.
* :func:`protect_inputs` refuses any output that is one of the inputs, by
  path, through a symbolic link or as a hard link to the same file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from hoopsense.errors import OutputError


def _same_file(a: Path, b: Path) -> bool:
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def protect_inputs(outputs: Iterable[str | Path | None], inputs: Iterable[str | Path | None]) -> None:
    """Raise :class:`OutputError` when an output would replace an input.

    The same path, a symbolic link to it (either way) and a hard link to the
    same file all count: writing the output would destroy the user's file.
    """
    ins = [Path(i).expanduser() for i in inputs if i is not None]
    for out in outputs:
        if out is None:
            continue
        out = Path(out).expanduser()
        for inp in ins:
            if _same_file(out, inp):
                raise OutputError(f"refusing to write {out}: it is the input {inp}; choose another output name")


def _temporary_sibling(final: Path) -> Path:
    """A hidden name beside ``final`` that keeps its suffix (muxers and savers look at it)."""
    return final.parent / f".{final.stem}.{os.getpid()}.tmp{final.suffix}"


@contextmanager
def atomic_write(final: str | Path, mode: str = "w", *, encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary sibling of ``final`` for writing; when the block ends normally the
    complete file is flushed to disk and renamed to ``final``. On any error the temporary
    file is removed and ``final`` keeps its previous content (or stays absent)."""
    final = Path(final)
    tmp = _temporary_sibling(final)
    binary = "b" in mode
    try:
        with open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else "") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except OSError as exc:
        raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(final: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``final`` atomically; see :func:`atomic_write`."""
    with atomic_write(final, "w") as fh:
        fh.write(text)
    return Path(final)


def atomic_save(final: str | Path, save: Callable[[Path], object]) -> Path:
    """Let ``save(tmp_path)`` write a file (``torch.save``...), then rename it to ``final`` atomically."""
    final = Path(final)
    tmp = _temporary_sibling(final)
    try:
        save(tmp)
        os.replace(tmp, final)
    except OSError as exc:
        raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return final


def partial_name(path: Path) -> Path:
    """``game.mp4`` -> ``game.partial.mp4``; ``game.tracks.csv`` -> ``game.tracks.partial.csv``."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


class OutputSet:
    """The temporary and final paths of one run's outputs."""

    def __init__(self, *, make_folders: bool = False) -> None:
        self._items: list[tuple[Path, Path]] = []
        self._made: list[Path] = []
        self.make_folders = make_folders

    def reserve(self, final: str | Path) -> Path:
        """Check that ``final`` can be written and return the temporary path to write instead.

        The temporary file keeps the final suffix so muxers pick the right format.
        A missing folder is created when ``make_folders`` (and removed again by
        :meth:`discard` if it stays empty). Raises :class:`OutputError` when
        the folder is missing or not writable, or when ``final`` is a folder or
        was reserved already.
        """
        final = Path(final).expanduser()
        try:
            is_dir = final.is_dir()
        except OSError as exc:
            raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from None
        if is_dir:
            raise OutputError(f"output path is a folder, expected a file name: {final}")
        parent = final.parent if str(final.parent) else Path(".")
        if not parent.is_dir():
            if not self.make_folders or parent.exists():
                raise OutputError(f"output folder does not exist: {parent}")
            self._make_folder(parent)
        if any(_same_file(f, final) for _, f in self._items):
            raise OutputError(f"two outputs would be written to the same file: {final}")
        tmp = _temporary_sibling(final)
        try:
            tmp.touch()
        except OSError as exc:
            raise OutputError(f"cannot write to {parent}: {exc.strerror or exc}") from exc
        self._items.append((tmp, final))
        return tmp

    def _make_folder(self, folder: Path) -> None:
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {folder}: {exc.strerror or exc}") from exc
        self._made.extend(missing)  # deepest first

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
        """Delete every temporary file, and the folders this set created if they are empty."""
        for tmp, _ in self._items:
            tmp.unlink(missing_ok=True)
        self._items = []
        for folder in self._made:
            try:
                folder.rmdir()
            except OSError:
                break
        self._made = []


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

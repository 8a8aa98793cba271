"""Cache folder, hash-checked downloads and resolution of weights names or paths."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from hoopsense.errors import WeightsError
from hoopsense.weights.specs import WeightSpec, get_spec

ProgressFn = Callable[[int, int | None], None]


def home_dir() -> Path:
    """``$HOOPSENSE_HOME``, default ``~/.cache/hoopsense``: where hoopsense keeps what it downloads or derives."""
    home = os.environ.get("HOOPSENSE_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "hoopsense"


def cache_dir() -> Path:
    """``$HOOPSENSE_HOME/weights``, default ``~/.cache/hoopsense/weights``."""
    return home_dir() / "weights"


def offline() -> bool:
    """True when ``HOOPSENSE_OFFLINE`` is set to a true value: never download."""
    return os.environ.get("HOOPSENSE_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches(digest: str, expected: str) -> bool:
    return digest.startswith(expected.lower())


def _pin_file(spec: WeightSpec) -> Path:
    """Where the digest of an unpinned spec's first download is kept."""
    return cached_path(spec).with_name(spec.filename + ".sha256")


def _expected(spec: WeightSpec) -> str | None:
    """The digest ``spec``'s file must have: declared, or pinned by its first download (None: not yet)."""
    if spec.sha256 is not None:
        return spec.sha256
    try:
        pinned = _pin_file(spec).read_text().strip().lower()
    except OSError:
        return None
    return pinned if len(pinned) == 64 else None


def cached_path(spec: WeightSpec) -> Path:
    """Where ``spec`` lives in the cache (whether or not it is there)."""
    return cache_dir() / spec.filename


def download(spec: WeightSpec, progress: ProgressFn | None = None, timeout_s: float = 60.0) -> Path:
    """Download ``spec`` into the cache: temporary name, sha256 check, rename.

    Raises :class:`WeightsError` when offline mode is on, the download fails,
    or the file's hash is not the expected one (the bad file is deleted).
    """
    target = cached_path(spec)
    if offline():
        raise WeightsError(
            f"weights {spec.name!r} are not in {target.parent} and HOOPSENSE_OFFLINE is set: "
            f"download {spec.url} there, or pass a local file path"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(spec.url, headers={"User-Agent": "hoopsense"})
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                done = 0
                while block := response.read(1 << 20):
                    out.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
        digest = sha256_of(tmp)
        expected = _expected(spec)
        if expected is not None and not _matches(digest, expected):
            raise WeightsError(
                f"download of {spec.name!r} from {spec.url} has sha256 {digest[:16]}..., expected "
                f"{expected[:16]}...; the file was discarded, try again or pass a local file path"
            )
        if expected is None:  # first download of an unpinned file: pin it
            _pin_file(spec).write_text(digest + "\n")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise WeightsError(
            f"cannot download weights {spec.name!r} from {spec.url} ({exc}); on a machine without "
            f"internet pass a local file path, or put the file in {target.parent}"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _looks_like_path(value: str) -> bool:
    return os.sep in value or "/" in value or value.startswith((".", "~"))


def resolve(name_or_path: str | Path, *, what: str = "weights", progress: ProgressFn | None = None) -> Path:
    """A local file or folder for ``name_or_path``.

    * An existing path is returned as it is (empty files are rejected).
    * A known name (see ``hoopsense weights list``) is taken from the cache,
      verified, or downloaded into it.
    * Anything else is a :class:`WeightsError` that says ``what`` was not found
      (``"detector weights"``, ``"recognizer checkpoint"``).
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        if path.is_file() and path.stat().st_size == 0:
            raise WeightsError(f"{what} file is empty (0 bytes): {path}")
        return path
    spec = get_spec(text)
    if spec is None or _looks_like_path(text):
        raise WeightsError(
            f"{what} not found: {text!r} is neither an existing file nor a known name (see `hoopsense weights list`)"
        )
    target = cached_path(spec)
    if target.is_file():
        expected = _expected(spec)
        if expected is not None and _matches(sha256_of(target), expected):
            return target
        target.unlink()  # corrupt, partial or never pinned: fetch again
    try:
        return download(spec, progress=progress)
    except WeightsError as exc:
        raise WeightsError(
            f"{exc} (or give a local file, or set HOOPSENSE_HOME to a folder holding weights/{spec.filename})"
        ) from exc

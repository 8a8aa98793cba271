"""Which games a batch analyses, and the folder each one's outputs go to.

``GAMES`` on the command line are video files, folders (their videos, not
recursive), glob patterns (``season/*.mp4``, ``**`` allowed) or ``.txt`` files
listing one of those per line (``#`` starts a comment; relative lines are
relative to the list file).
"""

from __future__ import annotations

import glob
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hoopsense.errors import ConfigError

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mts", ".ts", ".mpg", ".mpeg"})
LIST_SUFFIXES = frozenset({".txt", ".lst"})


@dataclass(frozen=True)
class Game:
    """One video to analyse and the name of its output folder (unique within the batch)."""

    video: Path
    name: str


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _expand(spec: str, base: Path, seen_lists: set[Path]) -> list[Path]:
    path = (base / spec).expanduser() if not Path(spec).expanduser().is_absolute() else Path(spec).expanduser()
    if any(ch in spec for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        videos = [p for p in matches if p.is_file() and _is_video(p)]
        if not videos:
            raise ConfigError(f"no video matches {spec}")
        return videos
    if path.is_dir():
        videos = sorted(p for p in path.iterdir() if p.is_file() and _is_video(p) and not p.name.startswith("."))
        if not videos:
            raise ConfigError(f"the folder {spec} has no videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
        return videos
    if not path.is_file():
        raise ConfigError(f"game {spec} not found")
    if path.suffix.lower() in LIST_SUFFIXES:
        resolved = path.resolve()
        if resolved in seen_lists:
            raise ConfigError(f"the list {spec} includes itself")
        seen_lists.add(resolved)
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the game list {spec} ({exc})") from None
        out: list[Path] = []
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line:
                out.extend(_expand(line, path.parent, seen_lists))
        return out
    if not _is_video(path):
        raise ConfigError(
            f"{spec} is neither a video ({', '.join(sorted(VIDEO_SUFFIXES))}), a folder, a pattern nor a .txt list"
        )
    return [path]


def safe_stem(stem: str) -> str:
    """``stem`` as a file-system-safe name (letters, digits, ``._-``; at most 80 characters)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "game"
    return name[:80]


def find_games(specs: Iterable[str | Path], *, base: Path | None = None) -> list[Game]:
    """The games named by ``specs``, each video once, in the order given.

    Output names are the video's stem made file-system safe; two videos with
    the same stem (``home/g1.mp4``, ``away/g1.mp4``) get their parent folder's
    name and, if still equal, a short hash of the path added.
    """
    base = base or Path.cwd()
    videos: list[Path] = []
    seen: set[Path] = set()
    lists: set[Path] = set()
    for spec in specs:
        for video in _expand(str(spec), base, lists):
            key = video.resolve()
            if key not in seen:
                seen.add(key)
                videos.append(video)
    if not videos:
        raise ConfigError("no games given")
    stems: dict[str, int] = {}
    for v in videos:
        stems[safe_stem(v.stem)] = stems.get(safe_stem(v.stem), 0) + 1
    games: list[Game] = []
    used: set[str] = set()
    for v in videos:
        name = safe_stem(v.stem)
        if stems[name] > 1:
            name = safe_stem(f"{v.resolve().parent.name}_{v.stem}")
        if name in used:
            name = f"{name}_{hashlib.sha256(str(v.resolve()).encode()).hexdigest()[:8]}"
        used.add(name)
        games.append(Game(v, name))
    return games

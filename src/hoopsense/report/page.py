"""Render :class:`ReportData` into one self-contained HTML file (inline CSS, JS and data; no network)."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import urllib.parse
from importlib import resources
from pathlib import Path

from hoopsense import __version__
from hoopsense.errors import ConfigError, OutputError
from hoopsense.outputs import atomic_write_text, protect_inputs
from hoopsense.pipeline.run_files import OUTPUT_KINDS
from hoopsense.report.data import ReportData, report_data

EMBED_LIMIT = 25 * 1024 * 1024  # videos up to this size are embedded with embed="auto"
EMBED_CHOICES = ("auto", "always", "never")


def _asset(name: str) -> str:
    return (resources.files("hoopsense.report") / "assets" / name).read_text(encoding="utf-8")


def json_for_script(doc: dict) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` can end the element."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def render_html(data: ReportData) -> str:
    parts = {
        "__TITLE__": html.escape(data.title),
        "__VERSION__": html.escape(__version__),
        "__CSS__": _asset("report.css"),
        "__JS__": _asset("report.js"),
        "__DATA__": json_for_script(data.to_json()),
    }
    return re.sub("|".join(parts), lambda m: parts[m.group(0)], _asset("template.html"))


def _video_source(video: Path, page: Path, embed: str) -> str | None:
    if not video.is_file():
        return None
    if embed == "always" or (embed == "auto" and video.stat().st_size <= EMBED_LIMIT):
        return "data:video/mp4;base64," + base64.b64encode(video.read_bytes()).decode("ascii")
    rel = os.path.relpath(video.resolve(), page.resolve().parent)
    return urllib.parse.quote(Path(rel).as_posix(), safe="/.-_~")


def check_report_path(out: Path) -> None:
    """Raise unless ``out`` names an HTML file in an existing folder."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"the report must be an .html file, got {out}")
    if out.is_dir():
        raise OutputError(f"the report path is a folder, expected a file name: {out}")


def write_report(run: Path, out: Path | None = None, *, embed: str = "auto") -> Path:
    """Build the report of the run at ``run`` (its folder, ``.run.json`` or video) into ``out``.

    ``out`` defaults to ``<stem>.report.html`` beside the run. The annotated
    video is embedded when ``embed`` is ``always``, or ``auto`` and it is at
    most 25 MB; otherwise the page links to it by a path relative to the page.
    The players' thumbnails (the run's gallery) are always embedded.
    Only files in the run's own folder are read; the page never replaces one
    of them.
    """
    if embed not in EMBED_CHOICES:
        raise ConfigError(f"embed must be one of {', '.join(EMBED_CHOICES)}, got {embed!r}", field="embed")
    if out is not None:
        check_report_path(Path(out))
    data, files = report_data(run)
    out = Path(out) if out is not None else files.folder / f"{files.stem}.report.html"
    check_report_path(out)
    protect_inputs([out], [files.run_json, *(files.path(kind) for kind in OUTPUT_KINDS)])
    if not out.parent.is_dir():
        try:
            out.parent.mkdir(parents=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {out.parent}: {exc.strerror or exc}") from exc
    video = Path(data.video) if data.video else None
    data.video = _video_source(video, out, embed) if video is not None else None
    return atomic_write_text(out, render_html(data))


__all__ = ["check_report_path", "json_for_script", "render_html", "write_report"]

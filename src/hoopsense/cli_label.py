"""``hoopsense label``: label a clip folder in the browser; or import/export its labels as CSV (parser and handler).

Errors are raised as :class:`~hoopsense.errors.HoopsenseError`; :mod:`hoopsense.cli`
turns them into exit codes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hoopsense.console import console, err_console
from hoopsense.errors import ConfigError


def add_label_parser(sub: Any) -> None:
    p = sub.add_parser(
        "label",
        help="label a clip folder (made by `hoopsense clips`, or SpaceJam) in the browser",
        description="Serve a local labelling page for a SpaceJam-format clip folder. Labels are saved into the "
        "folder's annotation_dict.json the moment they are given. The printed URL carries a per-launch token.",
    )
    p.add_argument("data", type=Path, help="clip folder (annotation_dict.json, labels_dict.json, <id>.mp4 clips)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 picks any free port)")
    p.add_argument("--no-browser", action="store_true", help="print the URL but do not open a browser")
    p.add_argument(
        "--recognizer",
        type=Path,
        help="checkpoint whose guesses are shown per clip, and that orders clips least-confident first",
    )
    p.add_argument("--device", default="auto", help="device of the recognizer: auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--import",
        dest="import_csv",
        type=Path,
        metavar="CSV",
        help="apply labels from a clip_id,label CSV to the folder and exit (new class names are added)",
    )
    p.add_argument(
        "--export",
        dest="export_csv",
        type=Path,
        metavar="CSV",
        help="write the folder's labels as clip_id,label and exit",
    )


def label_command(args: argparse.Namespace) -> int:
    from hoopsense.label.launch import LabelServerOptions, open_store, serve
    from hoopsense.outputs import atomic_write_text, protect_inputs

    if args.import_csv or args.export_csv:
        store = open_store(args.data)
        if args.import_csv:
            try:
                text = args.import_csv.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read {args.import_csv} ({exc})") from None
            result = store.import_csv(text)
            console.print(
                f"{result.applied} labels changed, {result.unchanged} already so"
                + (f", {len(result.unknown_ids)} ids not in {args.data} left out" if result.unknown_ids else "")
                + (f"; new classes: {', '.join(result.new_classes)}" if result.new_classes else "")
            )
        if args.export_csv:
            protect_inputs([args.export_csv], [args.data, args.import_csv, *args.data.glob("*.json")])
            atomic_write_text(args.export_csv, store.export_csv())
            console.print(f"wrote {store.counts()['labelled']} labels to {args.export_csv}")
        return 0
    options = LabelServerOptions(args.host, args.port, not args.no_browser, args.recognizer, args.device)
    if args.recognizer is not None and not args.recognizer.is_file():
        raise ConfigError(f"--recognizer {args.recognizer} not found")

    def ready(url: str, store) -> None:
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            err_console.print(
                f"warning: listening on {args.host}: anyone who can reach it and has the URL can change labels",
                soft_wrap=True,
            )
        c = store.counts()
        console.print(f"labelling {args.data}: {c['labelled']} of {c['total']} clips labelled so far")
        console.print(f"open {url}", soft_wrap=True)
        console.print("(Ctrl-C stops; every label is already saved)")

    serve(args.data, options, on_ready=ready)
    return 0

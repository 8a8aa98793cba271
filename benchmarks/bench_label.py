"""The labelling app on a small and a huge clip folder: page-ready time, browser memory, key-to-next-clip time.

For each folder size (default 500 and 20,000 clips) a clip folder is made
(hard links to a few real clips cut by ``hoopsense clips``, so it is quick to
build, with a ``clips.csv`` naming the real source video), ``hoopsense label``
is started as a real process, and headless Chromium opens the printed URL.
Printed per size: time from navigation until the first clip is drawn, JS heap
and DOM nodes, the median and 95th percentile of the time from a key press to
the next clip drawn (as the page records it), the labels per minute of a
keyboard burst, and the server's time per saved label (it rewrites
annotation_dict.json atomically each time), and the seconds from launch until
the motion clusters of the "varied first" order are ready: at the first
launch (every clip's descriptor computed) and at a relaunch (read from the
folder's descriptor cache). The last line gives the ratios of the big folder
to the small one.

    python benchmarks/bench_label.py [--sizes 500 20000] [--labels 60]

Needs Debian's chromium, playwright and the shared assets (real footage and detector).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ASSETS, DETECTOR, ROOT

sys.path.insert(0, str(ROOT / "tests"))
from servers import Server

from hoopsense.label.order import CACHE
from hoopsense.label.store import ClipSource, read_label_names, read_sources, write_folder

FOOTAGE = ASSETS / "footage" / "nba_broadcast_wide_854x480.mp4"


def cut_real_clips(folder: Path) -> Path:
    from hoopsense.cli import main

    if main(["clips", str(FOOTAGE), "--out", str(folder), "--detector", str(DETECTOR), "--end", "2", "--quiet"]) != 0:
        raise SystemExit("hoopsense clips failed")
    return folder


def big_folder(real: Path, folder: Path, n: int) -> Path:
    """``n`` clips: hard links to the real clips, each with its real clips.csv row (ids made unique)."""
    folder.mkdir()
    sources = read_sources(real)
    base = list(sources)
    rows: dict[str, ClipSource] = {}
    for i in range(n):
        src = base[i % len(base)]
        clip = f"g{i // len(base):04d}-{src}"
        os.link(real / f"{src}.mp4", folder / f"{clip}.mp4")
        rows[clip] = sources[src]
    write_folder(folder, read_label_names(real / "labels_dict.json"), dict.fromkeys(rows), rows)
    return folder


def motion_ready_s(folder: Path) -> float:
    """Seconds from starting ``hoopsense label`` on ``folder`` until its motion clusters are ready."""
    started = time.perf_counter()
    server = Server("label", folder, "--port", "0", "--no-browser")
    try:
        while True:
            coverage = server.request("GET", "/api/state")[1].get("coverage") or {}
            if coverage.get("ready"):
                return time.perf_counter() - started
            if time.perf_counter() - started > 3600:
                raise SystemExit(f"motion clusters of {folder} not ready after an hour")
            time.sleep(0.2)
    finally:
        server.stop()


def measure(browser, folder: Path, labels: int) -> dict:
    server = Server("label", folder, "--port", "0", "--no-browser")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        t0 = time.perf_counter()
        page.goto(server.url)
        page.wait_for_selector("body[data-ready='1']", timeout=120_000)
        ready_ms = (time.perf_counter() - t0) * 1000
        page.wait_for_timeout(500)
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        started = time.perf_counter()
        for k in range(labels):
            page.keyboard.press("1" if k % 2 else "2")
            deadline = time.monotonic() + 30  # polled from here: the page's CSP forbids wait_for_function's eval
            while page.evaluate("window.hsTimings.length") <= k and time.monotonic() < deadline:
                time.sleep(0.002)
        burst_s = time.perf_counter() - started
        timings = sorted(page.evaluate("window.hsTimings"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # every label of the burst on disk
            saved = json.loads((folder / "annotation_dict.json").read_text())
            if sum(v is not None for v in saved.values()) >= labels:
                break
            time.sleep(0.1)
        state = server.request("GET", "/api/state")[1]
        ids = state["clips"]["id"][labels : labels + 50]
        put_ms = []
        for clip in ids:
            t = time.perf_counter()
            server.request("PUT", "/api/label", {"clip": clip, "label": 0})
            put_ms.append((time.perf_counter() - t) * 1000)
        return {
            "clips": len(state["clips"]["id"]),
            "ready_ms": ready_ms,
            "heap_mib": metrics["JSHeapUsedSize"] / 2**20,
            "nodes": int(metrics["Nodes"]),
            "key_median_ms": statistics.median(timings),
            "key_p95_ms": timings[int(0.95 * (len(timings) - 1))],
            "labels_per_min": 60 * labels / burst_s,
            "put_median_ms": statistics.median(put_ms),
            "saved": sum(v is not None for v in saved.values()),
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 20_000])
    parser.add_argument("--labels", type=int, default=60, help="keyboard labels per size")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None or not FOOTAGE.is_file():
        raise SystemExit("needs Debian's chromium, playwright and the shared assets (footage, detector)")
    from playwright.sync_api import sync_playwright

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        real = cut_real_clips(Path(tmp) / "real")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium, headless=True, args=["--no-sandbox", "--enable-precise-memory-info"]
            )
            measure(browser, big_folder(real, Path(tmp) / "warm-up", 50), 5)  # first navigation, imports: not counted
            for n in args.sizes:
                folder = big_folder(real, Path(tmp) / f"c{n}", n)
                first, again = motion_ready_s(folder), motion_ready_s(folder)
                (folder / CACHE).unlink()  # the page is measured as at a first launch, descriptors computed beside it
                r = measure(browser, folder, args.labels)
                results.append(r)
                print(
                    f"{r['clips']:>6} clips: page ready {r['ready_ms']:.0f} ms, JS heap {r['heap_mib']:.1f} MiB, "
                    f"{r['nodes']} DOM nodes; key to next clip median {r['key_median_ms']:.1f} ms "
                    f"(p95 {r['key_p95_ms']:.1f}); {r['labels_per_min']:.0f} labels/min at keyboard speed, "
                    f"all {r['saved']} saved; server save {r['put_median_ms']:.1f} ms per label; "
                    f"motion clusters ready {first:.1f} s after the first launch, {again:.1f} s after a relaunch",
                    flush=True,
                )
                shutil.rmtree(folder)
            browser.close()
    if len(results) >= 2:
        a, b = results[0], results[-1]
        print(
            f"{b['clips']} vs {a['clips']} clips: page ready x{b['ready_ms'] / a['ready_ms']:.2f}, "
            f"heap x{b['heap_mib'] / a['heap_mib']:.2f}, key to next clip x{b['key_median_ms'] / a['key_median_ms']:.2f}, "
            f"server save x{b['put_median_ms'] / a['put_median_ms']:.2f}"
        )


if __name__ == "__main__":
    main()

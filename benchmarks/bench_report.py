"""Page-ready time and browser memory of the HTML report for a synthetic 1-hour, 30-player game.

Builds the report data (30 players visible most of the hour, back-to-back action
events of 1-6 s over 10 classes), renders the page, opens it in headless
Chromium (Playwright) and prints: HTML size, time to build the page, time until
the page is ready, JS heap in use, and the time of typical interactions
(a confidence filter, hiding a player, zooming, moving the cursor).

    python benchmarks/bench_report.py [--players 30 --minutes 60]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hoopsense.pipeline.render import player_colour
from hoopsense.report.data import PlayerLane, ReportData
from hoopsense.report.page import render_html

LABELS = ("block", "pass", "run", "dribble", "shoot", "ball in hand", "defense", "pick", "no_action", "walk")


def synthetic(players: int, minutes: float, seed: int = 0) -> ReportData:
    rng = np.random.default_rng(seed)
    duration = minutes * 60
    lanes, events = [], []
    for pid in range(1, players + 1):
        spans, t = [], rng.uniform(0, 60)
        while t < duration:
            on = min(duration, t + rng.uniform(60, 600))  # on court for 1-10 minutes
            spans.append((t, on))
            s = t
            while s < on:
                e = min(on, s + rng.uniform(1, 6))
                events.append((pid, int(rng.integers(0, len(LABELS))), s, e, float(rng.uniform(0.3, 1.0))))
                s = e
            t = on + rng.uniform(10, 240)  # on the bench
        lanes.append(PlayerLane(pid, player_colour(pid), spans, classified=True))
    events.sort(key=lambda e: (e[2], e[0]))
    return ReportData("synthetic game", None, 30.0, 0.0, duration, LABELS, "no_action", lanes, events, recognized=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=60)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Debian's chromium (apt-get install chromium) and playwright (pip install playwright)")
    from playwright.sync_api import sync_playwright

    data = synthetic(args.players, args.minutes)
    started = time.perf_counter()
    html = render_html(data)
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "report.html"
        page_path.write_text(html, encoding="utf-8")
        print(
            f"{args.players} players, {args.minutes:g} min, {len(data.events)} events, "
            f"{sum(len(p.visible) for p in data.players)} visible spans"
        )
        print(f"page: {len(html.encode()) / 1e6:.2f} MB, built in {build_s * 1000:.0f} ms")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium, headless=True, args=["--no-sandbox", "--enable-precise-memory-info"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            t0 = time.perf_counter()
            page.goto(page_path.as_uri())
            page.wait_for_selector("body[data-ready='1']")
            ready_s = time.perf_counter() - t0
            in_page = page.evaluate("performance.now()")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            print(f"ready: {ready_s * 1000:.0f} ms from navigation (page clock {in_page:.0f} ms)")
            print(
                f"JS heap used: {metrics['JSHeapUsedSize'] / 2**20:.1f} MiB (total {metrics['JSHeapTotalSize'] / 2**20:.1f} MiB), "
                f"DOM nodes {int(metrics['Nodes'])}"
            )
            timings = page.evaluate("""() => {
                const t = (f) => { const a = performance.now(); f(); return performance.now() - a; };
                const conf = document.getElementById('min-conf');
                const out = {};
                out.confidence_filter_ms = t(() => { conf.value = '0.6'; conf.dispatchEvent(new Event('input')); });
                const first = document.querySelector('input[name=player]');
                out.hide_player_ms = t(() => { first.checked = false; first.dispatchEvent(new Event('change', {bubbles: true})); });
                out.zoom_ms = t(() => document.getElementById('zoom-in').click());
                out.whole_game_ms = t(() => document.getElementById('zoom-fit').click());
                out.sort_ms = t(() => document.querySelector('#events th[data-key=confidence]').click());
                const v = document.getElementById('video');
                out.cursor_tick_ms = t(() => v.dispatchEvent(new Event('timeupdate')));
                return out;
            }""")
            print("interactions: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
            browser.close()


if __name__ == "__main__":
    main()

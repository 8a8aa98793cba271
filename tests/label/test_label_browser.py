"""The labelling page in real headless Chromium against a real ``hoopsense label`` process,
on clips cut by ``hoopsense clips`` (real detector) from real footage.

Skipped when Chromium, Playwright or the shared assets are missing (CI sets
HOOPSENSE_REQUIRE_BROWSER=1, which fails instead of skipping without a browser).
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from pathlib import Path

import pytest
from conftest import FOOTAGE, ONNX_DETECTOR, chromium_path, need_asset
from recognizers import make_checkpoint
from servers import Server

from hoopsense.cli import main

pytestmark = [pytest.mark.browser, pytest.mark.slow]
EVIL = '<img src=x onerror="window.__pwned=1">'


@pytest.fixture(scope="module")
def real_clips(tmp_path_factory) -> Path:
    chromium_path()
    folder = tmp_path_factory.mktemp("real") / "nba-clips"
    args = ["clips", need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4"), "--out", folder]
    assert main([str(a) for a in [*args, "--detector", need_asset(ONNX_DETECTOR), "--end", "2", "--quiet"]]) == 0
    return folder


@pytest.fixture
def folder(real_clips, tmp_path) -> Path:
    """A fresh copy of the real clips, none labelled yet (as `hoopsense clips` leaves them)."""
    copy = tmp_path / "clips"
    shutil.copytree(real_clips, copy)
    assert set(saved(copy).values()) == {None}
    return copy


def saved(folder: Path) -> dict:
    return json.loads((folder / "annotation_dict.json").read_text())


def unsure(folder: Path) -> list[str]:
    path = folder / "labelling.json"
    return json.loads(path.read_text())["unsure"] if path.is_file() else []


def wait_for(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def open_page(browser, server: Server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def progress(page) -> str:
    return page.locator("#progress-text").inner_text()


def test_keyboard_labelling_undo_reload_and_kill_9(browser, folder, capsys):
    ids = list(saved(folder))
    labels = list(json.loads((folder / "labels_dict.json").read_text()).values())
    server = Server("label", folder, "--port", "0", "--no-browser")
    try:
        page = open_page(browser, server)
        assert page.locator("#class-buttons kbd").first.inner_text() == "1"  # the key is shown on screen
        assert page.locator("#class-buttons button").count() == len(labels)
        assert page.locator("#current-label").inner_text() == "not labelled"
        caption = page.locator("#source-caption")
        assert wait_for(lambda: caption.inner_text().startswith("player "))  # clips.csv names the source
        assert wait_for(lambda: page.evaluate("document.getElementById('source').width") == 640)  # its frame is drawn
        for key in ("1", "2", "3"):
            page.keyboard.press(key)
        assert wait_for(lambda: [saved(folder)[c] for c in ids[:3]] == [0, 1, 2])
        page.keyboard.press("u")  # undo the third label
        assert wait_for(lambda: saved(folder)[ids[2]] is None)
        assert wait_for(lambda: page.locator("#clip-id").inner_text() == ids[2])  # undo goes back to the clip
        page.keyboard.press("x")  # unsure / skip
        assert wait_for(lambda: ids[2] in unsure(folder))
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("s")  # slow motion
        assert page.locator("#speed").input_value() == "0.5"
        assert page.locator("#current-note").inner_text() == "marked unsure"

        # a burst of labels at keyboard speed: every one saved, key-to-next-clip time recorded by the page
        started = time.monotonic()
        burst = ids[3:13]
        page.keyboard.press("ArrowRight")
        for k, _ in enumerate(burst):
            page.keyboard.press("1" if k % 2 else "2")
            # polled from here: the page's CSP forbids the eval that wait_for_function's polling needs
            assert wait_for(lambda n=k + 1: page.evaluate("window.hsTimings.length") >= n)
        assert wait_for(lambda: [saved(folder)[c] for c in burst] == [0 if k % 2 else 1 for k in range(len(burst))])
        per_minute = 60 * len(burst) / (time.monotonic() - started)
        timings = page.evaluate("window.hsTimings")
        with capsys.disabled():
            print(
                f"\nlabel page: {len(burst)} labels at {per_minute:.0f} labels/min; key to next clip drawn: "
                f"median {statistics.median(timings):.1f} ms, max {max(timings):.1f} ms"
            )
        assert wait_for(lambda: progress(page).startswith(f"{2 + len(burst)} / {len(ids)} labelled"))

        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert progress(page).startswith(f"{2 + len(burst)} / {len(ids)} labelled")
        assert page.locator("#current-label").inner_text() == labels[0]  # the first clip kept its label
    finally:
        server.kill()
    again = Server("label", folder, "--port", "0", "--no-browser")
    try:
        page = open_page(browser, again)
        assert progress(page).startswith(f"{2 + len(burst)} / {len(ids)} labelled")
        assert page.locator("#current-label").inner_text() == labels[0]
        assert not page.errors
    finally:
        again.stop()


def test_two_pages_label_different_clips_at_once(browser, folder):
    ids = list(saved(folder))
    half = len(ids) // 2
    with Server("label", folder, "--port", "0", "--no-browser") as server:
        a, b = open_page(browser, server), open_page(browser, server)
        for _ in range(half):
            b.keyboard.press("ArrowRight")
        assert b.locator("#clip-id").inner_text() == ids[half]
        for _ in range(4):  # interleaved: A labels its clips "1", B labels its clips "2"
            a.keyboard.press("1")
            b.keyboard.press("2")
        expected = {**{c: 0 for c in ids[:4]}, **{c: 1 for c in ids[half : half + 4]}}
        assert wait_for(lambda: {c: saved(folder)[c] for c in expected} == expected)
        for page in (a, b):  # each page learns the other's labels (it polls for changes)
            assert wait_for(lambda p=page: progress(p).startswith(f"8 / {len(ids)} labelled"))


def test_token_ids_and_markup_in_the_browser(browser, folder):
    with Server("label", folder, "--port", "0", "--no-browser") as server:
        page = browser.new_page()
        response = page.goto(server.base + "/")
        assert response.status == 403 and "token" in page.content()
        page = open_page(browser, server)
        status = page.evaluate(
            """async () => (await fetch('/api/label?token=' + new URLSearchParams(location.search).get('token'),
                 {method: 'PUT', headers: {'Content-Type': 'application/json'},
                  body: JSON.stringify({clip: '../../etc/passwd', label: 0})})).status"""
        )
        assert status == 404
        page.keyboard.press("n")
        page.fill("#new-class-name", EVIL)
        page.keyboard.press("Enter")
        button = page.locator("#class-buttons button").last
        button.wait_for()
        assert wait_for(lambda: EVIL in button.inner_text())  # shown as text
        assert page.locator("#class-buttons img").count() == 0
        assert page.evaluate("window.__pwned") is None
        assert list(json.loads((folder / "labels_dict.json").read_text()).values())[-1] == EVIL
        assert not page.errors


def test_recognizer_guesses_order_and_accept(browser, folder, tmp_path):
    labels = tuple(json.loads((folder / "labels_dict.json").read_text()).values())
    ckpt = make_checkpoint(tmp_path / "m.pt", labels=labels, background=None, clip_len=4, crop_size=32, resize=40)
    ids = list(saved(folder))
    with Server("label", folder, "--port", "0", "--no-browser", "--recognizer", ckpt) as server:
        page = open_page(browser, server)
        page.wait_for_selector(".guess", timeout=60_000)  # the clip on screen is guessed first
        guesses = page.locator(".guess").all_inner_texts()
        assert len(guesses) == 3 and all("%" in g for g in guesses)
        top = guesses[0].split("\n")[0]
        page.keyboard.press("Enter")  # accept the model's guess
        assert wait_for(lambda: saved(folder)[ids[0]] == labels.index(top))
        # least-confident first, once every clip has a guess and the motion clusters are ready: the page
        # follows the server's order, which starts with the least confident clip of the cluster it picks
        assert wait_for(lambda: page.locator("#guess-progress").inner_text() == "", timeout=120)
        _, state = server.request("GET", "/api/state")
        assert state["coverage"]["ready"]
        assert len(state["guesses"]["made"]) == len(ids)
        _, order = server.request("GET", "/api/order", params={"by": "confidence"})
        ranked = [ids[i] for i in order["order"]]
        assert ids[0] not in ranked and len(ranked) == len(ids) - 1  # the accepted clip is labelled
        page.select_option("#order", "confidence")  # the page asks the server for its order, then shows it
        assert wait_for(lambda: page.locator("#clip-id").inner_text() == ranked[0]), page.locator(
            "#clip-id"
        ).inner_text()
        page.keyboard.press("ArrowRight")
        assert page.locator("#clip-id").inner_text() == ranked[1]
        # varied first: the most typical clip of each motion cluster, before any model is asked
        _, varied = server.request("GET", "/api/order", params={"by": "varied"})
        page.select_option("#order", "varied")
        assert wait_for(lambda: page.locator("#clip-id").inner_text() == ids[varied["order"][0]])
        assert not page.errors

"""The report page in real headless Chromium (Debian's ``chromium``, driven by Playwright).

Skipped when Chromium or Playwright is missing, unless HOOPSENSE_REQUIRE_BROWSER=1
(set by CI), which turns the skip into a failure. The screenshot is kept in
``test-artifacts/`` at the project root.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FOOTAGE, ONNX_DETECTOR, chromium_path, need_asset
from recognizers import make_checkpoint

from hoopsense.cli import main

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
EVIL = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A real analysis of 2 s of the NBA clip with the real detector and a random recognizer whose labels try to inject markup."""
    chromium_path()
    folder = tmp_path_factory.mktemp("report")
    labels = ("dribble", "shoot", EVIL, "pass", "no_action")
    ckpt = make_checkpoint(folder / "m.pt", labels=labels, background="no_action", clip_len=8, crop_size=64, resize=72)
    out = folder / "nba.mp4"
    args = [
        "analyze",
        str(need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4")),
        "--out",
        str(out),
        "--detector",
        str(need_asset(ONNX_DETECTOR)),
        "--recognizer",
        str(ckpt),
        "--end",
        "2",
        "--min-event-s",
        "0.2",
        "--keep-background",
        "--report",
        str(folder / "report.html"),
        "--quiet",
    ]
    assert main(args) == 0
    return folder / "report.html"


@pytest.fixture
def page(browser, report):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(report.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("document.getElementById('video').readyState >= 1")
    yield page
    assert errors == [], errors
    page.close()


def test_clicking_a_segment_seeks_the_video_to_the_event(page):
    state = page.evaluate("hoopsense.state()")
    assert state["lanes"] >= 8 and state["drawn"] >= 5
    # the event furthest into the clip, so the seek is a visible move from 0
    target = page.evaluate("""() => {
        const d = JSON.parse(document.getElementById('report-data').textContent);
        let best = 0; d.events.forEach((e, i) => { if (e[2] > d.events[best][2]) best = i; });
        return {i: best, start: d.events[best][2] - d.offset};
    }""")
    assert target["start"] > 0.3
    box = page.evaluate(f"hoopsense.segmentBox({target['i']})")
    # a real mouse click on the segment's pixels (scrolled into view first)
    page.locator("#lanes").click(position={"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2})
    page.wait_for_function(f"Math.abs(document.getElementById('video').currentTime - {target['start']}) < 0.05")
    assert target["i"] in page.evaluate("hoopsense.state()")["current"]  # highlighted as the current event
    assert page.locator("#events tbody tr.current").count() >= 1


def test_cursor_moves_along_the_lanes_while_the_video_plays(page):
    start = page.evaluate("hoopsense.state()")["cursorX"]
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; return v.play(); }")
    page.wait_for_function("document.getElementById('video').currentTime > 0.8")
    page.evaluate("document.getElementById('video').pause()")
    later = page.evaluate("hoopsense.state()")
    assert later["cursorX"] > start + 100  # the 2 s clip spans the whole lane width
    red = page.evaluate(f"""() => {{
        const c = document.getElementById('cursor'), g = c.getContext('2d'), dpr = window.devicePixelRatio || 1;
        const px = g.getImageData(Math.round({later["cursorX"]} * dpr), 5, 1, 1).data;
        return [px[0], px[1], px[2], px[3]];
    }}""")
    assert red[0] > 200 and red[1] < 80 and red[3] > 0  # the red cursor line is drawn there
    assert later["current"], "events under the cursor are highlighted"


def test_download_button_saves_the_filtered_events(page, tmp_path):
    page.locator("#min-conf").fill("0.24")
    with page.expect_download() as info:
        page.locator("#download").click()
    saved = tmp_path / "events.csv"
    info.value.save_as(saved)
    text = saved.read_text()
    assert text == page.evaluate("hoopsense.csv()")
    assert len(text.strip().splitlines()) - 1 == page.evaluate("hoopsense.state()")["rows"]


def test_filters_change_the_table_and_the_lanes(page):
    before = page.evaluate("hoopsense.state()")
    rows_before = page.locator("#events tbody tr").count()
    page.locator("#min-conf").fill("0.5")  # random weights: no event is that confident
    after = page.evaluate("hoopsense.state()")
    assert after["rows"] < before["rows"] and after["drawn"] < before["drawn"]
    assert page.locator("#events tbody tr").count() < rows_before
    page.locator("#min-conf").fill("0")
    first_player = page.locator("input[name=player]").first
    first_player.uncheck()
    fewer = page.evaluate("hoopsense.state()")
    assert fewer["lanes"] == before["lanes"] - 1 and fewer["rows"] <= before["rows"]
    page.locator("[data-none=action]").click()
    none = page.evaluate("hoopsense.state()")
    assert none["rows"] == 0 and none["drawn"] == 0 and page.locator("#events tbody tr").count() == 0
    assert page.evaluate("hoopsense.csv()").strip() == "player_id,action,start_s,end_s,duration_s,confidence"


def test_sorting_and_csv_follow_the_table(page):
    page.locator("#events th[data-key=confidence]").click()
    page.locator("#events th[data-key=confidence]").click()  # descending
    conf = [float(t) for t in page.locator("#events tbody tr td:nth-child(5)").all_inner_texts()]
    assert conf == sorted(conf, reverse=True) and len(conf) >= 2
    lines = page.evaluate("hoopsense.csv()").strip().splitlines()
    assert len(lines) - 1 == page.evaluate("hoopsense.state()")["rows"]


def test_labels_render_as_text_never_markup(page):
    assert page.evaluate("window.__pwned") is None
    texts = page.locator("#action-list label").all_inner_texts()
    assert EVIL in texts
    assert page.locator("#action-list img, #events img, #summary img").count() == 0


def test_screenshot_is_kept(page):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "report.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 20_000

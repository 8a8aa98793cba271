"""Team groups and thumbnails of the report page in real headless Chromium (see test_report_browser.py).

The screenshot is kept as ``test-artifacts/report-teams.png`` at the project root.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from conftest import chromium_path
from run_fixtures import FPS, FRAMES, GOOD_THUMBNAILS, GROUP_ORDER, OWN_COLOUR, TEAM_COLOURS, write_run
from synth import make_video

from hoopsense.report.page import write_report

pytestmark = [pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def rgb(hex_colour: str) -> str:
    n = int(hex_colour[1:], 16)
    return f"rgb({n >> 16}, {(n >> 8) & 255}, {n & 255})"


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    return page, errors


@pytest.fixture(scope="module")
def teams_report(tmp_path_factory):
    chromium_path()
    folder = tmp_path_factory.mktemp("teams")
    video = make_video(folder / "source.mp4", n_frames=FRAMES, width=192, height=108, fps=FPS)
    run = write_run(folder / "run", video=video)
    return write_report(run, folder / "report.html")


@pytest.fixture
def page(browser, teams_report):
    page, errors = open_page(browser, teams_report)
    page.wait_for_function("document.getElementById('video').readyState >= 1")
    yield page
    assert errors == [], errors
    page.close()


def test_thumbnails_are_shown_beside_the_lanes(page):
    imgs = page.locator("#lane-names img")
    assert imgs.count() == len(GOOD_THUMBNAILS)
    page.wait_for_function("[...document.querySelectorAll('#lane-names img')].every((i) => i.complete)")
    shown = page.evaluate("""() => [...document.querySelectorAll('#lane-names img')].map((i) => ({
        player: Number(i.closest('.lane-name').dataset.player), src: i.src.slice(0, 23),
        width: i.naturalWidth, height: i.naturalHeight, onScreen: i.getBoundingClientRect().height}))""")
    assert sorted(s["player"] for s in shown) == sorted(GOOD_THUMBNAILS)
    for s in shown:
        assert s["src"] == "data:image/jpeg;base64,"
        assert s["width"] == 80 and s["height"] == 192  # decoded: the gallery's crop
        assert s["onScreen"] >= 30  # big enough to tell the players apart
    names = page.locator("#lane-names .lane-name")
    assert [int(n) for n in names.evaluate_all("els => els.map((e) => e.dataset.player)")] == GROUP_ORDER


def test_team_headers_in_order_with_colour_and_count(page):
    heads = page.locator("#lane-names .group-head")
    assert heads.all_inner_texts() == [
        "Team A · 2 players",
        "Team B · 1 player",
        "Other / unknown · 2 players",
        "Referees · 1 player",
    ]
    swatches = heads.evaluate_all("els => els.map((e) => getComputedStyle(e.querySelector('.swatch')).backgroundColor)")
    assert swatches == [rgb(TEAM_COLOURS["A"]), rgb(TEAM_COLOURS["B"]), rgb("#9e9e9e"), rgb(OWN_COLOUR[5])]
    assert page.evaluate("hoopsense.state()")["groups"] == ["A", "B", "other", "referee"]
    # every header sits right above its group's first lane
    tops = page.evaluate("""() => [...document.querySelectorAll('#lane-names > div')].map((e) =>
        [e.className, e.dataset.team || e.dataset.player, Math.round(e.getBoundingClientRect().top)])""")
    order = [(kind, key) for kind, key, _ in tops]
    assert order == [
        ("group-head", "A"), ("lane-name", "2"), ("lane-name", "4"),
        ("group-head", "B"), ("lane-name", "1"),
        ("group-head", "other"), ("lane-name", "3"), ("lane-name", "6"),
        ("group-head", "referee"), ("lane-name", "5"),
    ]  # fmt: skip
    assert all(b[2] > a[2] for a, b in itertools.pairwise(tops))
    lane_swatch = page.locator("#lane-names .lane-name[data-player='1'] .swatch").evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert lane_swatch == rgb(TEAM_COLOURS["B"])


def test_segments_are_drawn_and_clicked_below_the_headers(page):
    """The canvas rows follow the headers: each event's colour is where segmentBox says, and a click on a
    referee's segment (under four headers) seeks the video there."""
    found = page.evaluate("""() => {
        const d = JSON.parse(document.getElementById('report-data').textContent);
        const g = document.getElementById('lanes').getContext('2d'), dpr = window.devicePixelRatio || 1;
        return d.events.map((e, i) => {
            const b = hoopsense.segmentBox(i), px = g.getImageData(Math.round((b.x + b.width / 2) * dpr),
                Math.round((b.y + b.height / 2) * dpr), 1, 1).data;
            return {player: e[0], start: e[2], colour: d.colours[e[1]], px: [px[0], px[1], px[2]], y: b.y};
        });
    }""")
    assert len(found) == 12
    for f in found:
        n = int(f["colour"][1:], 16)
        assert f["px"] == [n >> 16, (n >> 8) & 255, n & 255], f
    referee = max((f for f in found if f["player"] == 5), key=lambda f: f["start"])
    assert referee["y"] > 4 * 24 + 5 * 44  # below four headers and five lanes
    i = found.index(referee)
    box = page.evaluate(f"hoopsense.segmentBox({i})")
    page.locator("#lanes").click(position={"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2})
    page.wait_for_function(f"Math.abs(document.getElementById('video').currentTime - {referee['start']}) < 0.05")


def test_hiding_a_team_hides_its_header(page):
    for pid in (2, 4):
        page.locator(f"#player-list input[value='{pid}']").uncheck()
    state = page.evaluate("hoopsense.state()")
    assert state["groups"] == ["B", "other", "referee"] and state["lanes"] == 4
    assert page.locator("#lane-names .group-head").count() == 3
    assert page.locator("#player-list .group-head").count() == 4  # the filter keeps every team's heading
    page.locator("[data-all=player]").click()
    assert page.evaluate("hoopsense.state()")["groups"] == ["A", "B", "other", "referee"]


def test_screenshot_is_kept(page):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "report-teams.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 20_000


def test_a_run_without_teams_or_gallery_looks_as_before(browser, tmp_path):
    chromium_path()
    page, errors = open_page(browser, write_report(write_run(tmp_path / "run", old_format=True), tmp_path / "r.html"))
    try:
        assert page.locator("#lane-names .group-head, #player-list .group-head, img").count() == 0
        heights = page.locator("#lane-names > div").evaluate_all(
            "els => els.map((e) => e.getBoundingClientRect().height)"
        )
        assert heights == [22] * 6  # lanes of the usual height, one per player, no header rows
        width = page.locator("#lane-names").evaluate("e => e.getBoundingClientRect().width")
        assert width == 80
        assert page.evaluate("hoopsense.state()")["groups"] == []
        assert "team" not in page.locator("#summary thead").inner_text()
        assert errors == []
    finally:
        page.close()

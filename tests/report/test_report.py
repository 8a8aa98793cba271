"""The report's data and page (no browser: see test_report_browser.py for the page in Chromium)."""

from __future__ import annotations

import json
import re

import pytest
from recognizers import make_checkpoint
from synth import make_video

from hoopsense.cli import main
from hoopsense.errors import ConfigError
from hoopsense.pipeline.export import read_timeline_csv, read_tracks_csv
from hoopsense.pipeline.render import action_colours
from hoopsense.report.data import NO_TEAM_COLOUR, report_data, stream_spans
from hoopsense.report.page import json_for_script, render_html, write_report

EVIL = "<script>window.__pwned=1</script>"


def run_cli(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(
        tmp_path_factory.mktemp("ck") / "m.pt", labels=("dribble", EVIL, "no_action"), background="no_action"
    )


@pytest.fixture
def analysed(tmp_path, checkpoint, cli):
    video = make_video(tmp_path / "game.mp4", n_frames=60, width=192, height=108)
    out = tmp_path / "out" / "game.mp4"
    out.parent.mkdir()
    code = cli(
        "analyze",
        video,
        "--out",
        out,
        "--recognizer",
        checkpoint,
        "--min-track-frames",
        "3",
        "--min-event-s",
        "0.2",
        "--keep-background",
        "--report",
        out.with_suffix(".html"),
        "--quiet",
    )
    assert code == 0
    return out


def test_spans_merge_short_gaps_and_split_long_ones(tmp_path):
    rows = ["frame,time_s,player_id,x1,y1,x2,y2,confidence"]
    frames = {1: list(range(10)) + list(range(13, 21)) + list(range(40, 46)), 2: [5]}
    for pid, fs in frames.items():
        rows += [f"{f},{f / 10},{pid},0,0,1,1,1" for f in fs]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    spans = stream_spans(path, fps=10.0, gap=5)
    assert spans[1] == [(0.0, 2.1), (4.0, 4.6)]  # a 3-frame gap is bridged, a 19-frame one is not
    assert spans[2] == [(0.5, 0.6)]


def test_report_data_matches_the_run_outputs(analysed):
    data, _ = report_data(analysed.with_name("game.run.json"))
    tracks = read_tracks_csv(analysed.with_name("game.tracks.csv"))
    events = read_timeline_csv(analysed.with_name("game.timeline.csv"))
    assert data.recognized and data.labels == ("dribble", EVIL, "no_action") and data.background == "no_action"
    assert sorted(p.player_id for p in data.players) == sorted(set(tracks["player_id"].tolist()))
    identity = json.loads(analysed.with_name("game.run.json").read_text())["identity"]
    assert identity["teams"] is True  # the synthetic players all look alike: no team can be told apart
    for p in data.players:
        # the colour of the player's ellipse in the video: his team's, grey while it is unknown
        assert p.colour == identity["player_colours"].get(str(p.player_id), NO_TEAM_COLOUR)
        frames = tracks["frame"][tracks["player_id"] == p.player_id]
        assert p.visible[0][0] == pytest.approx(frames.min() / 25) and p.visible[-1][1] == pytest.approx(
            (frames.max() + 1) / 25
        )
    assert len(data.events) == len(events)
    got = sorted((p, data.labels[a], round(s, 3), round(e, 3)) for p, a, s, e, _ in data.events)
    want = sorted((e["player_id"], e["action"], round(e["start_s"], 3), round(e["end_s"], 3)) for e in events)
    assert got == want
    assert data.colours == action_colours(data.labels, "no_action") and data.colours[2] == "#757575"
    assert data.duration_s == pytest.approx(60 / 25) and data.offset_s == 0


def test_page_is_self_contained_and_escapes_labels(analysed):
    page = analysed.with_suffix(".html")
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # no CDN, no web fonts
    assert "@import" not in text and "url(http" not in text
    assert text.count("<script") == 2 and EVIL not in text  # the label only exists JSON-escaped
    payload = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S).group(1)
    doc = json.loads(payload)
    assert doc["labels"][1] == EVIL
    assert doc["video"].startswith("data:video/mp4;base64,")  # small video: embedded


def test_json_for_script_cannot_close_the_element():
    doc = {"label": "</script><!-- & \u2028"}
    text = json_for_script(doc)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == doc


def test_title_is_escaped(analysed):
    data, _ = report_data(analysed.with_name("game.run.json"))
    data.title = "<b>game</b>"
    assert "<title>&lt;b&gt;game&lt;/b&gt; · hoopsense report</title>" in render_html(data)


def test_linked_video_uses_a_relative_path(analysed, tmp_path):
    page = write_report(analysed.parent, tmp_path / "elsewhere.html", embed="never")
    doc = json.loads(re.search(r'id="report-data">(.*?)</script>', page.read_text(), re.S).group(1))
    assert doc["video"] == "out/game.mp4"


def test_tracking_only_report(tmp_path, cli):
    video = make_video(tmp_path / "g.mp4", n_frames=40)
    assert cli("analyze", video, "--out", tmp_path / "a.mp4", "--quiet") == 0
    assert cli("report", tmp_path / "a.run.json") == 0
    data, _ = report_data(tmp_path / "a.run.json")
    assert not data.recognized and data.events == [] and data.players and all(p.visible for p in data.players)
    assert (tmp_path / "a.report.html").exists()


def test_report_errors(tmp_path, analysed, capsys):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ConfigError, match="no \\*.run.json"):
        report_data(tmp_path / "nothing")
    assert run_cli("report", analysed.parent, "--out", tmp_path / "missing" / "r.html") == 0  # folders are created
    assert (tmp_path / "missing" / "r.html").is_file()
    assert run_cli("report", analysed.parent, "--out", tmp_path / "r.txt") == 1
    assert "must be an .html file" in capsys.readouterr().err
    analysed.with_name("game.timeline.json").unlink()
    assert run_cli("report", analysed.parent) == 1
    assert "timeline is missing" in capsys.readouterr().err

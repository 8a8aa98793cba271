"""Teams and thumbnails in the report's data, from run folders written in the files' formats (no analysis)."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shutil
from collections.abc import Callable

import pytest
from run_fixtures import (
    GOOD_THUMBNAILS,
    GROUP_ORDER,
    OWN_COLOUR,
    PLAYER_COLOUR,
    TEAM_COLOURS,
    TEAM_OF,
    jpeg,
    write_gallery,
    write_run,
)

from hoopsense.errors import ConfigError
from hoopsense.pipeline.render import player_colour
from hoopsense.report.data import (
    NO_TEAM_COLOUR,
    THUMBNAIL_LIMIT,
    add_thumbnails,
    plain_name,
    read_thumbnail,
    report_data,
    stream_tracks,
)
from hoopsense.report.page import render_html, write_report

GREY = NO_TEAM_COLOUR


def lanes(data):
    return {p.player_id: p for p in data.players}


def test_lanes_are_grouped_by_team_in_order(tmp_path):
    data, _ = report_data(write_run(tmp_path))
    assert [p.player_id for p in data.players] == GROUP_ORDER  # A, B, other/unknown, referees; by ID within each
    got = [(g.team, g.name, g.colour, g.players) for g in data.groups]
    assert got == [
        ("A", "Team A", TEAM_COLOURS["A"], [2, 4]),
        ("B", "Team B", TEAM_COLOURS["B"], [1]),
        ("other", "Other / unknown", GREY, [3, 6]),
        ("referee", "Referees", OWN_COLOUR[5], [5]),
    ]
    assert {pid: lane.team for pid, lane in lanes(data).items()} == TEAM_OF


def test_lane_colours_are_those_of_the_video(tmp_path):
    data, _ = report_data(write_run(tmp_path))
    colours = {pid: lane.colour for pid, lane in lanes(data).items()}
    # team players in the team's jersey colour, the referee in his own, others and unknowns grey (as drawn in the video)
    assert colours == {
        2: TEAM_COLOURS["A"],
        4: TEAM_COLOURS["A"],
        1: TEAM_COLOURS["B"],
        5: OWN_COLOUR[5],
        3: GREY,
        6: GREY,
    }


def test_thumbnails_are_embedded_as_jpeg_data_uris(tmp_path):
    data, _ = report_data(write_run(tmp_path))
    thumbs = {pid: lane.thumbnail for pid, lane in lanes(data).items()}
    for pid in GOOD_THUMBNAILS:
        prefix, _, payload = thumbs[pid].partition(",")
        assert prefix == "data:image/jpeg;base64"
        assert base64.b64decode(payload) == (tmp_path / "game.players" / f"player-{pid}.jpg").read_bytes()
    assert thumbs[3] is None  # a PNG under a .jpg name
    assert thumbs[4] is None  # over the size limit
    assert (tmp_path / "game.players" / "player-4.jpg").stat().st_size > THUMBNAIL_LIMIT


def test_the_page_carries_groups_and_thumbnails(tmp_path):
    data, _ = report_data(write_run(tmp_path))
    html = render_html(data)
    doc = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1))
    assert [p["id"] for p in doc["players"]] == GROUP_ORDER
    assert [g["name"] for g in doc["groups"]] == ["Team A", "Team B", "Other / unknown", "Referees"]
    assert sum(1 for p in doc["players"] if p.get("thumbnail", "").startswith("data:image/jpeg;base64,")) == len(
        GOOD_THUMBNAILS
    )
    assert html.count("<script") == 2  # thumbnails travel in the JSON data, never as markup


def test_missing_thumbnails_and_gallery_are_tolerated(tmp_path):
    run = write_run(tmp_path)
    (tmp_path / "game.players" / "player-1.jpg").unlink()
    (tmp_path / "game.players" / "player-2.jpg").write_bytes(b"")
    (tmp_path / "game.players" / "player-5.jpg").write_bytes(b"\xff\xd8")  # cut short: not even a JPEG header
    data, _ = report_data(run)
    assert {pid for pid, lane in lanes(data).items() if lane.thumbnail} == {6}
    for f in (tmp_path / "game.players").iterdir():
        f.unlink()
    (tmp_path / "game.players").rmdir()
    data, _ = report_data(run)
    assert all(lane.thumbnail is None for lane in data.players)
    assert [p.player_id for p in data.players] == GROUP_ORDER  # the teams do not depend on the gallery


def test_a_thumbnail_folder_that_is_a_file_is_ignored(tmp_path):
    run = write_run(tmp_path, gallery="game.jpg")
    shutil.rmtree(tmp_path / "game.jpg")
    (tmp_path / "game.jpg").write_bytes(jpeg((0, 0, 0)))
    data, _ = report_data(run)
    assert all(lane.thumbnail is None for lane in data.players)


def test_a_gallery_with_a_path_is_refused_by_the_record(tmp_path):
    outside = tmp_path / "x"
    write_gallery(outside)
    run = write_run(tmp_path / "run", gallery="../x")
    with pytest.raises(ConfigError, match="gallery"):
        report_data(run)


@pytest.mark.parametrize("name", ["../x", "..", ".", "", "sub/../../x", "/abs/x", "x\\..\\..", "x\0"])
def test_thumbnails_never_come_from_a_path_in_the_gallery_name(tmp_path, name):
    """Even from a record that was not checked on reading, a gallery name with a path in it is ignored."""
    write_gallery(tmp_path / "x")
    write_gallery(tmp_path / "abs" / "x")
    run_json = write_run(tmp_path / "run", gallery=None)
    data, files = report_data(run_json)
    outputs = {**files.record.outputs, "gallery": str(tmp_path / "abs" / "x") if name == "/abs/x" else name}
    files = dataclasses.replace(files, record=dataclasses.replace(files.record, outputs=outputs))
    add_thumbnails(data, files)
    assert all(lane.thumbnail is None for lane in data.players)
    assert plain_name(name) is None


def test_links_out_of_the_run_folder_are_not_followed(tmp_path):
    outside = tmp_path / "elsewhere"
    write_gallery(outside)
    run = write_run(tmp_path / "run", gallery="game.players")
    gallery = tmp_path / "run" / "game.players"
    (gallery / "player-6.jpg").unlink()
    os.symlink(outside / "player-1.jpg", gallery / "player-6.jpg")  # a thumbnail linked to a file outside
    os.symlink(gallery / "player-1.jpg", gallery / "link-inside.jpg")
    data, _ = report_data(run)
    thumbs = {pid: lane.thumbnail for pid, lane in lanes(data).items()}
    assert thumbs[6] is None and thumbs[1] is not None
    assert read_thumbnail(tmp_path / "run", gallery, "link-inside.jpg") == thumbs[1]  # a link inside is fine
    for name in ("../../elsewhere/player-1.jpg", "/etc/passwd", ".."):
        assert read_thumbnail(tmp_path / "run", gallery, name) is None

    run2 = write_run(tmp_path / "run2", gallery="game.players")
    for f in (tmp_path / "run2" / "game.players").iterdir():
        f.unlink()
    (tmp_path / "run2" / "game.players").rmdir()
    os.symlink(outside, tmp_path / "run2" / "game.players")  # the whole gallery linked elsewhere
    data, _ = report_data(run2)
    assert all(lane.thumbnail is None for lane in data.players)


def test_old_runs_look_as_before(tmp_path):
    data, _ = report_data(write_run(tmp_path, old_format=True))
    assert data.groups == [] and [p.player_id for p in data.players] == sorted(TEAM_OF)
    assert all(p.colour == player_colour(p.player_id) and p.team is None and p.thumbnail is None for p in data.players)
    doc = data.to_json()
    assert doc["groups"] == [] and all(set(p) == {"id", "colour", "visible", "classified"} for p in doc["players"])
    assert data.recognized and len(data.events) == 2 * len(TEAM_OF)
    assert lanes(data)[6].visible == [(10 / 25, 31 / 25)]


def test_runs_with_teams_off_keep_palette_colours_and_show_thumbnails(tmp_path):
    data, _ = report_data(write_run(tmp_path, teams=False))
    assert data.groups == [] and [p.player_id for p in data.players] == sorted(TEAM_OF)
    assert all(p.colour == player_colour(p.player_id) and p.team is None for p in data.players)
    assert {p.player_id for p in data.players if p.thumbnail} == set(GOOD_THUMBNAILS)


def test_tracking_only_runs_take_teams_from_the_tracks_and_colours_from_the_record(tmp_path):
    data, _ = report_data(write_run(tmp_path, timeline=False))
    assert not data.recognized and [p.player_id for p in data.players] == GROUP_ORDER
    assert [(g.team, g.colour) for g in data.groups] == [
        ("A", TEAM_COLOURS["A"]), ("B", TEAM_COLOURS["B"]), ("other", GREY), ("referee", OWN_COLOUR[5])
    ]  # fmt: skip
    colours = {p.player_id: p.colour for p in data.players}
    assert colours == {pid: GREY if TEAM_OF[pid] in ("other", None) else PLAYER_COLOUR[pid] for pid in TEAM_OF}


def test_tracking_only_runs_without_colours_in_the_record_take_teams_from_the_tracks(tmp_path):
    run = write_run(tmp_path, timeline=False, record_colours=False)
    spans, teams = stream_tracks(tmp_path / "game.tracks.csv", 25.0)
    assert teams == {pid: t for pid, t in TEAM_OF.items() if t is not None} and set(spans) == set(TEAM_OF)
    data, _ = report_data(run)
    assert not data.recognized and [p.player_id for p in data.players] == GROUP_ORDER
    # the tracks name teams but not their colours: headers without a swatch, lanes in the palette colour,
    # except others and unknowns, who are grey in the video whatever their team
    assert [(g.team, g.colour) for g in data.groups] == [("A", None), ("B", None), ("other", GREY), ("referee", None)]
    colours = {p.player_id: p.colour for p in data.players}
    assert colours == {pid: GREY if TEAM_OF[pid] in ("other", None) else player_colour(pid) for pid in TEAM_OF}


def edited_run(tmp_path, edit: Callable[[dict], None]):
    """A run whose timeline document ``edit`` changed in place."""
    run = write_run(tmp_path)
    path = tmp_path / "game.timeline.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return run


def test_odd_team_fields_in_the_timeline_are_ignored(tmp_path):
    def edit(doc: dict) -> None:
        for p in doc["players"]:
            if p["player_id"] == 1:
                p["team"] = "C"  # not a team this release knows: with the others
            if p["player_id"] == 2:
                p["team_colour"] = "red;background:url(http://x)"  # not #rrggbb: the team's colour instead
        doc["teams"]["B"] = "navy"

    data, _ = report_data(edited_run(tmp_path, edit))
    by_id = lanes(data)
    assert by_id[1].team is None and by_id[1].colour == GREY
    assert by_id[2].colour == TEAM_COLOURS["A"]
    assert [g.team for g in data.groups] == ["A", "other", "referee"]
    assert data.groups[1].players == [1, 3, 6]


def test_the_record_says_teams_were_on_even_when_no_player_got_one(tmp_path):
    """With teams on, players without a team are grey in the video; the page groups them as unknown."""
    run = write_run(tmp_path, timeline=False)
    text = (tmp_path / "game.tracks.csv").read_text()
    (tmp_path / "game.tracks.csv").write_text(re.sub(r",(A|B|referee|other),", ",,", text))
    data, _ = report_data(run)
    assert [g.team for g in data.groups] == ["other"] and all(p.colour == GREY for p in data.players)


def test_write_report_embeds_thumbnails_into_one_file(tmp_path):
    page = write_report(write_run(tmp_path / "run"), tmp_path / "page" / "r.html")
    text = page.read_text()
    assert text.count("data:image/jpeg;base64,") == len(GOOD_THUMBNAILS)
    assert "game.players" not in text  # never linked by path


def test_a_kept_crowd_has_its_own_grey_group_before_the_referees(tmp_path):
    def edit(doc: dict) -> None:
        for p in doc["players"]:
            if p["player_id"] == 3:
                p["team"] = "crowd"  # a run with --keep-crowd

    data, _ = report_data(edited_run(tmp_path, edit))
    assert [(g.team, g.name, g.colour) for g in data.groups] == [
        ("A", "Team A", TEAM_COLOURS["A"]), ("B", "Team B", TEAM_COLOURS["B"]), ("other", "Other / unknown", GREY),
        ("crowd", "Crowd", GREY), ("referee", "Referees", OWN_COLOUR[5]),
    ]  # fmt: skip
    assert data.groups[3].players == [3] and lanes(data)[3].colour == GREY

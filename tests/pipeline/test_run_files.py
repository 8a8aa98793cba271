"""The run's files: names, the versioned run record (round trip, damage, foreign paths)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hoopsense.errors import ConfigError
from hoopsense.pipeline.run_files import (
    RUN_FORMAT,
    OutputPaths,
    PlayerRecord,
    RunFiles,
    RunRecord,
    read_record,
    stem_of,
    write_record,
)


def record(**changes) -> RunRecord:
    base = dict(
        input={"path": "/games/g.mp4", "width": 854, "height": 480, "fps": 29.97, "n_frames": 165, "duration_s": 5.5},
        range_s=(1.5, None), detector={"name": "d.onnx", "conf": 0.05}, tracker={"min_iou": 0.05},
        recognizer={"labels": ["a", "b"]},
        outputs={"video": "g.mp4", "tracks_csv": "g.tracks.csv", "mot": "g.mot.txt", "run_json": "g.run.json",
                 "timeline_csv": "g.timeline.csv", "timeline_json": "g.timeline.json"},
        frames=120, rows=900, events=7, players=(PlayerRecord(1, 0, 119, 120, True), PlayerRecord(4, 10, 50, 41, False)),
        fps_achieved=12.5, stage_s={"detect": 3.25}, skipped_packets=2, partial=False,
    )  # fmt: skip
    base.update(changes)
    return RunRecord(**base)


def test_record_round_trip(tmp_path):
    original = record()
    write_record(tmp_path / "g.run.json", original)
    back = read_record(tmp_path / "g.run.json")
    assert back == original
    assert back.format_version == RUN_FORMAT and back.fps == pytest.approx(29.97)
    assert back.start_s == 1.5 and back.duration_s == pytest.approx(120 / 29.97)


def test_record_never_holds_infinity_or_nan(tmp_path):
    write_record(tmp_path / "g.run.json", record(fps_achieved=math.inf, stage_s={"detect": math.nan}))
    text = (tmp_path / "g.run.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    doc = json.loads(text)
    assert doc["fps_achieved"] is None and doc["stage_s"]["detect"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["input"].update(fps=0), "fps must be a positive number"),
        (lambda d: d["input"].update(fps=-3), "fps must be a positive number"),
        (lambda d: d.update(frames=-1), "frames must be >= 0"),
        (lambda d: d["outputs"].update(video="../secret.mp4"), "not a file name in the run's folder"),
        (lambda d: d["outputs"].update(tracks_csv="/etc/passwd"), "not a file name in the run's folder"),
        (lambda d: d.update(format_version=RUN_FORMAT + 1), "newer than this hoopsense reads"),
        (lambda d: d.pop("input"), "missing 'input'"),
        (lambda d: d.update(outputs=[1, 2]), "not a usable hoopsense run file"),
    ],
)
def test_damaged_or_foreign_records_are_one_line_errors(tmp_path, change, message):
    doc = record().to_json()
    change(doc)
    path = tmp_path / "g.run.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=message) as err:
        read_record(path)
    assert "\n" not in str(err.value)


def test_truncated_record(tmp_path):
    path = tmp_path / "g.run.json"
    write_record(path, record())
    path.write_text(path.read_text()[:100])
    with pytest.raises(ConfigError, match="invalid JSON"):
        read_record(path)


def test_unversioned_records_of_earlier_releases_are_read(tmp_path):
    doc = record().to_json()
    del doc["format_version"]
    del doc["outputs"]["mot"]
    (tmp_path / "g.run.json").write_text(json.dumps(doc))
    run = RunFiles.find(tmp_path)
    assert run.record.format_version == 0 and run.stem == "g"
    assert run.path("mot") == tmp_path / "g.mot.txt"  # earlier records did not name every file


def test_names_and_finding(tmp_path):
    paths = OutputPaths.beside(tmp_path / "out" / "game.mp4", timeline=True)
    assert paths.tracks_csv == tmp_path / "out" / "game.tracks.csv"
    assert paths.timeline_json == tmp_path / "out" / "game.timeline.json"
    assert OutputPaths.beside(tmp_path / "game", video=False).video is None
    assert stem_of(Path("a/game.run.json")) == Path("a/game") and stem_of(Path("a/game.mp4")) == Path("a/game")
    write_record(tmp_path / "g.run.json", record())
    for where in (tmp_path, tmp_path / "g.run.json", tmp_path / "g.mp4"):
        run = RunFiles.find(where)
        assert run.path("tracks_csv") == tmp_path / "g.tracks.csv"
    write_record(tmp_path / "h.run.json", record())
    with pytest.raises(ConfigError, match="several runs"):
        RunFiles.find(tmp_path)


def test_the_run_record_gives_the_colours_the_video_draws(tmp_path):
    """run.json's team and player colours: a team's jersey colour, a referee's own shirt, and grey for other
    people and the crowd, as the video draws them (not their own shirt colours)."""
    from synth import make_video

    from hoopsense.identity.stage import IdentityConfig, IdentityStage
    from hoopsense.identity.teams import Team
    from hoopsense.pipeline.analyze import _identities
    from hoopsense.pipeline.render import NO_TEAM_COLOUR
    from hoopsense.pipeline.results import AnalysisResult, TrackStats
    from hoopsense.video import probe

    video = make_video(tmp_path / "v.mp4", n_frames=5)
    stage = IdentityStage(IdentityConfig(gallery=False, keep_referees=True, keep_crowd=True), fps=25, embedder=None)
    sides = {1: Team("A", "#cc2020"), 2: Team("B", "#2020cc"), 3: Team("other", "#7a4b12"),
             4: Team("crowd", "#214a2a"), 5: Team("referee", "#262626")}  # fmt: skip
    stage.teams = dict(sides)
    stage.released = {pid: {pid} for pid in sides}
    result = AnalysisResult(meta=probe(video), players={pid: TrackStats(0, 4, 5) for pid in sides})
    _identities(stage, result, gallery=None)
    record = result.identity
    assert record is not None
    assert record["player_colours"] == {
        "1": "#cc2020", "2": "#2020cc", "3": NO_TEAM_COLOUR, "4": NO_TEAM_COLOUR, "5": "#262626"
    }  # fmt: skip
    assert record["team_colours"] == {
        "A": "#cc2020", "B": "#2020cc", "crowd": NO_TEAM_COLOUR, "other": NO_TEAM_COLOUR, "referee": "#262626"
    }  # fmt: skip
    assert record["team_counts"] == {"A": 1, "B": 1, "crowd": 1, "other": 1, "referee": 1}
    # each player's own entry keeps his shirt colour (the report shows a referee in it)
    assert result.identities[3]["team_colour"] == "#7a4b12"

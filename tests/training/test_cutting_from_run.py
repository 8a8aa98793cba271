"""``clips --from-run`` on a hand-written run (the documented run formats): which label each clip starts
with, the proposals, ranges, the source video, and the inputs it refuses (fast: no detector, no model)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from synth import make_video

from hoopsense.label.store import LabelStore, read_sources
from hoopsense.pipeline.timeline import ActionEvent
from hoopsense.training.from_run import read_run_predictions, starting_event

FPS = 25
N_FRAMES = 40
LABELS = ["dribble", "shoot", "no_action"]
# player -> (frames seen, box at frame f)
PLAYERS = {
    1: (range(40), lambda f: (10, 10, 30, 50)),
    2: (range(20), lambda f: (60 + f, 8, 80 + f, 56)),
    3: (range(5, 13), lambda f: (120, 20, 140, 70)),
}
# (player, action, first frame, last frame, confidence); player 1 has no event after frame 27 (the
# timeline dropped its background there); player 2's events are of the background class (--keep-background)
EVENTS = [
    (1, "dribble", 0, 11, 0.8),
    (1, "shoot", 12, 27, 0.6),
    (2, "no_action", 0, 19, 0.7),
    (3, "shoot", 5, 12, 0.55),
]


def write_run(
    tmp: Path,
    *,
    recognizer: dict | str | None = "default",
    events=EVENTS,
    input_path: str | None = None,
    range_s=(0.0, None),
    timeline: bool = True,
    cuts: tuple[int, ...] = (),
) -> Path:
    """``tmp/game.mp4`` (the game) and the run ``tmp/run/game.*`` of it (its annotated video is another picture)."""
    game = make_video(tmp / "game.mp4", n_frames=N_FRAMES)
    run = tmp / "run"
    run.mkdir()
    make_video(run / "game.mp4", n_frames=N_FRAMES, marker=True)
    rows = ["frame,time_s,player_id,x1,y1,x2,y2,confidence"]
    for f in range(N_FRAMES):
        for pid, (frames, box) in PLAYERS.items():
            if f in frames:
                rows.append(f"{f},{f / FPS:.4f},{pid}," + ",".join(f"{v:.1f}" for v in box(f)) + ",0.900")
    (run / "game.tracks.csv").write_text("\n".join(rows) + "\n")
    if timeline:
        lines = ["player_id,action,start_frame,end_frame,start_s,end_s,duration_s,confidence"]
        for pid, action, a, b, conf in events:
            lines.append(f"{pid},{action},{a},{b},{a / FPS:.4f},{(b + 1) / FPS:.4f},{(b + 1 - a) / FPS:.4f},{conf}")
        (run / "game.timeline.csv").write_text("\n".join(lines) + "\n")
    if recognizer == "default":
        recognizer = {"checkpoint": "model.pt", "labels": LABELS, "background": "no_action", "keep_background": True}
    doc = {
        "format_version": 1,
        "input": {
            "path": input_path if input_path is not None else str(game),
            "width": 160,
            "height": 96,
            "fps": float(FPS),
            "n_frames": N_FRAMES,
            "duration_s": N_FRAMES / FPS,
        },
        "range_s": list(range_s),
        "detector": {"name": "hand"},
        "tracker": {},
        "recognizer": recognizer,
        "outputs": {
            "video": "game.mp4",
            "tracks_csv": "game.tracks.csv",
            "mot": None,
            "run_json": "game.run.json",
            "timeline_csv": "game.timeline.csv" if timeline else None,
            "timeline_json": None,
        },
        "frames": N_FRAMES,
        "cuts": list(cuts),
        "rows": len(rows) - 1,
        "events": len(events),
        "players": [
            {"player_id": pid, "first_frame": fr[0], "last_frame": fr[-1], "frames": len(fr)}
            for pid, (fr, _) in PLAYERS.items()
        ],
    }
    (run / "game.run.json").write_text(json.dumps(doc))
    return run


def cut(cli, run, out, *extra) -> int:
    return cli("clips", "--from-run", run, "--out", out, "--clip-len", "8", "--size", "32", "--quiet", *extra)


def read_folder(out: Path) -> tuple[dict, list[str], dict]:
    annotations = json.loads((out / "annotation_dict.json").read_text())
    names = json.loads((out / "labels_dict.json").read_text())
    labels = [names[str(i)] for i in range(len(names))]
    state = json.loads((out / "labelling.json").read_text())
    return annotations, labels, state


def test_each_clip_starts_with_the_event_that_overlaps_it_most(tmp_path, cli, capsys):
    run = write_run(tmp_path)
    out = tmp_path / "clips"
    assert cut(cli, run, out) == 0
    annotations, labels, state = read_folder(out)
    assert labels == LABELS
    d, s, bg = 0, 1, 2
    expected = {  # in cut order: as the clips complete
        "game-p001-f000000": (d, 0.8),  # inside dribble
        "game-p002-f000000": (bg, 0.7),  # background events kept by the run: proposed like the others
        "game-p003-f000005": (s, 0.55),
        "game-p001-f000008": (d, 0.8),  # 4 frames dribble, 4 shoot: the more confident
        "game-p002-f000008": (bg, 0.7),
        "game-p001-f000016": (s, 0.6),
        "game-p002-f000012": (bg, 0.7),  # the end of the player's segment: a window ending with it
        "game-p001-f000024": (s, 0.6),  # 4 frames of shoot, 4 without event
        "game-p001-f000032": None,  # no event: the run does not say what the model saw
    }
    assert list(annotations) == list(expected)
    assert annotations == {k: (v[0] if v else None) for k, v in expected.items()}
    assert state["proposed"] == {k: {"label": LABELS[v[0]], "confidence": v[1]} for k, v in expected.items() if v}
    assert state["unsure"] == []
    store = LabelStore(out)
    assert store.proposal("game-p001-f000016") == ("shoot", 0.6)
    assert store.counts()["unreviewed"] == 8 and store.counts()["labelled"] == 8
    text = " ".join(capsys.readouterr().out.split())
    assert "wrote 9 clips of 3 players" in text and f"hoopsense label {out}" in text
    assert "8 start with the run's prediction" in text and "1 that no event" in text


def test_clips_come_from_the_runs_tracks(tmp_path, cli):
    run = write_run(tmp_path)
    out = tmp_path / "clips"
    assert cut(cli, run, out) == 0
    sources = read_sources(out)
    assert len(sources) == 9
    for clip, src in sources.items():
        frames, box = PLAYERS[src.player_id]
        assert clip == f"game-p{src.player_id:03d}-f{src.start_frame:06d}"
        assert src.end_frame - src.start_frame == 7 and src.start_frame in frames and src.end_frame in frames
        boxes = [box(f) for f in range(src.start_frame, src.end_frame + 1)]
        union = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        assert src.box == pytest.approx(union)
        assert src.start_s == pytest.approx(src.start_frame / FPS) and src.end_s == pytest.approx(
            (src.end_frame + 1) / FPS
        )
        assert Path(src.source) == tmp_path / "game.mp4"  # the game, not the annotated video
    from hoopsense.video import probe

    first = probe(out / "game-p001-f000000.mp4")
    assert (first.width, first.height, first.n_frames) == (32, 32, 8)
    with open(out / "clips.csv", newline="") as fh:
        assert next(csv.reader(fh))[:4] == ["id", "player_id", "start_frame", "end_frame"]


def test_no_clip_spans_a_camera_cut_of_the_run(tmp_path, cli):
    """The run found a cut at frame 20: player 1, tracked on through it, gets clips before and after it, none
    with frames of both shots (without the cut, his clips 16-23 and 24-31 ... would cross it)."""
    run = write_run(tmp_path, cuts=(20,))
    out = tmp_path / "clips"
    assert cut(cli, run, out) == 0
    spans = sorted((s.player_id, s.start_frame, s.end_frame) for s in read_sources(out).values())
    assert all(b < 20 or a >= 20 for _, a, b in spans), spans
    assert [(a, b) for p, a, b in spans if p == 1] == [(0, 7), (8, 15), (12, 19), (20, 27), (28, 35), (32, 39)]
    assert [(a, b) for p, a, b in spans if p == 2] == [(0, 7), (8, 15), (12, 19)]  # seen to frame 19: unchanged
    # a part of the run (frames 10-24) keeps the cut at its frame in the video
    part = tmp_path / "part"
    assert cut(cli, run, part, "--start", "0.4", "--end", "1.0") == 0
    spans = sorted((s.player_id, s.start_frame, s.end_frame) for s in read_sources(part).values())
    assert spans == [(1, 10, 17), (1, 20, 24), (2, 10, 17)]  # 18-19: too short for a clip of their own


def test_start_and_end_cut_a_part_of_the_run(tmp_path, cli):
    run = write_run(tmp_path)
    out = tmp_path / "clips"
    assert cut(cli, run, out, "--start", "0.4", "--end", "1.0") == 0  # frames 10..24
    annotations, _, state = read_folder(out)
    # player 1: 10-17 (2 frames dribble, 6 shoot) and the segment's end 17-24; player 2: 10-17;
    # player 3 is seen 3 frames of the range, too few for a clip
    assert annotations == {"game-p001-f000010": 1, "game-p002-f000010": 2, "game-p001-f000017": 1}
    assert all(10 <= s.start_frame and s.end_frame <= 24 for s in read_sources(out).values())
    assert state["proposed"]["game-p001-f000010"] == {"label": "shoot", "confidence": 0.6}


def test_a_moved_game_is_named_on_the_command_line(tmp_path, cli, capsys):
    run = write_run(tmp_path, input_path=str(tmp_path / "elsewhere" / "game.mp4"))
    out = tmp_path / "clips"
    assert cut(cli, run, out) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "elsewhere" in err and "is gone" in err and "GAME" in err
    assert not out.exists()
    assert cli("clips", tmp_path / "game.mp4", "--from-run", run / "game.run.json", "--out", out, "--quiet") == 0
    assert {Path(s.source) for s in read_sources(out).values()} == {tmp_path / "game.mp4"}


def test_labels_come_from_the_events_when_the_record_has_none(tmp_path):
    run = write_run(tmp_path, recognizer={"background": "no_action"}, events=EVENTS[1:])
    assert read_run_predictions(run).labels == ("shoot", "no_action")


def test_starting_event_breaks_ties_by_confidence_then_order():
    a = ActionEvent(1, "dribble", 0, 9, 0.0, 0.4, 0.5)
    b = ActionEvent(1, "shoot", 10, 19, 0.4, 0.8, 0.9)
    c = ActionEvent(1, "pass", 20, 29, 0.8, 1.2, 0.5)
    assert starting_event([a, b, c], 0, 7) is a
    assert starting_event([a, b, c], 6, 13) is b  # 4 frames each: the more confident
    assert starting_event([a, c], 16, 23) is c  # 4 frames of c, none of a
    assert starting_event([a, ActionEvent(1, "pass", 10, 19, 0.4, 0.8, 0.5)], 6, 13) is a  # a full tie: the earlier
    assert starting_event([a, b], 30, 37) is None


def _unknown_action(tmp: Path) -> list:
    return [write_run(tmp, events=[*EVENTS, (3, "dunk", 5, 12, 0.5)])]


def _annotated_video(tmp: Path) -> list:
    run = write_run(tmp)
    return [run / "game.mp4", "--from-run", run]


def _other_size(tmp: Path) -> list:
    run = write_run(tmp)
    return [make_video(tmp / "small.mp4", n_frames=N_FRAMES, width=64, height=48), "--from-run", run]


def _timeline_deleted(tmp: Path) -> list:
    run = write_run(tmp)
    (run / "game.timeline.csv").unlink()
    return [run]


def _shorter_video(tmp: Path) -> list:
    run = write_run(tmp)
    return [make_video(tmp / "short.mp4", n_frames=20), "--from-run", run]


@pytest.mark.parametrize(
    ("make", "says"),
    [
        pytest.param(lambda t: [t / "nowhere"], "nowhere", id="run-missing"),
        pytest.param(
            lambda t: [write_run(t, recognizer=None, timeline=False)], "without --recognizer", id="no-recognizer"
        ),
        pytest.param(_timeline_deleted, "timeline", id="timeline-deleted"),
        pytest.param(lambda t: [write_run(t, timeline=False)], "no timeline", id="no-timeline-output"),
        pytest.param(_unknown_action, "dunk", id="unknown-action"),
        pytest.param(_annotated_video, "annotated video", id="game-is-the-annotated-video"),
        pytest.param(_other_size, "not the video the run analysed", id="game-of-another-size"),
        pytest.param(_shorter_video, "up to frame", id="game-shorter-than-the-run"),
        pytest.param(lambda t: [write_run(t, range_s=(0.0, 1.0)), "--start", "1.2"], "outside", id="range-outside"),
        pytest.param(lambda t: [write_run(t), "--placeholder", "shoot"], "--placeholder", id="placeholder"),
        pytest.param(lambda t: [write_run(t), "--court", "0,0,1,0,1,1"], "--court", id="court"),
        pytest.param(lambda t: [write_run(t), "--detector", "other.pt"], "--detector", id="detector"),
        pytest.param(lambda t: [write_run(t), "--drop-doubled", "on"], "--drop-doubled", id="drop-doubled"),
        pytest.param(lambda t: [write_run(t), "--reclaim", "off"], "--reclaim", id="reclaim"),
        pytest.param(lambda t: [write_run(t), "--cuts", "off"], "--cuts", id="cuts"),
    ],
)
def test_bad_runs_fail_on_one_line_and_write_nothing(tmp_path, cli, capsys, make, says):
    args = make(tmp_path)
    if not any(str(a) == "--from-run" for a in args):
        args = ["--from-run", *args]
    out = tmp_path / "clips"
    before = sorted(p.name for p in tmp_path.iterdir())
    code = cli("clips", *args, "--out", out, "--clip-len", "8", "--quiet")
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and err.startswith("error:") and says in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no clips folder, no temporary one


def test_clips_needs_a_game_or_a_run(tmp_path, cli, capsys):
    assert cli("clips", "--out", tmp_path / "clips") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--from-run" in err
    assert not (tmp_path / "clips").exists()


def test_a_copied_run_folder_still_finds_its_game(tmp_path, cli):
    run = write_run(tmp_path)
    copy = shutil.copytree(run, tmp_path / "copy")
    assert cut(cli, copy / "game.mp4", tmp_path / "clips") == 0  # the run named by its annotated video
    assert len(json.loads((tmp_path / "clips" / "annotation_dict.json").read_text())) == 9

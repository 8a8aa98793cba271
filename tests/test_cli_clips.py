"""``hoopsense clips``: a game, or an analysed run of it, cut into a SpaceJam-format folder that ``train`` reads."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes import ShapeDetector, cli_with
from recognizers import make_checkpoint
from synth import make_video

from hoopsense.label.store import LabelStore, read_sources
from hoopsense.recognizer.model import read_checkpoint
from hoopsense.video import VideoReader, probe

SPACEJAM = [
    "block",
    "pass",
    "run",
    "dribble",
    "shoot",
    "ball in hand",
    "defense",
    "pick",
    "no_action",
    "walk",
    "discard",
]


def words(text: str) -> str:
    return " ".join(text.split())


def test_clips_start_unlabelled(tmp_path, cli, capsys):
    game = make_video(tmp_path / "game.mp4", n_frames=60, width=192, height=108)
    clips = tmp_path / "clips"
    assert cli("clips", game, "--out", clips, "--clip-len", "8", "--size", "48", "--quiet") == 0
    annotations = json.loads((clips / "annotation_dict.json").read_text())
    labels = json.loads((clips / "labels_dict.json").read_text())
    assert [labels[str(i)] for i in range(len(labels))] == SPACEJAM
    assert annotations and set(annotations.values()) == {None}  # nobody has labelled them: not no_action
    assert not (clips / "labelling.json").exists()  # nothing proposed
    rows = (clips / "clips.csv").read_text().splitlines()
    assert rows[0].startswith("id,player_id,start_frame,end_frame") and len(rows) - 1 == len(annotations)
    assert len({r.split(",")[1] for r in rows[1:]}) >= 2  # several players
    first = probe(clips / f"{next(iter(annotations))}.mp4")
    assert (first.width, first.height, first.n_frames) == (48, 48, 8)
    assert LabelStore(clips).counts()["labelled"] == 0
    text = words(capsys.readouterr().out)
    assert f"wrote {len(annotations)} clips" in text
    assert f"label them with `hoopsense label {clips}`, then `hoopsense train {clips}`" in text
    assert cli("clips", game, "--out", clips, "--quiet") == 1  # never overwrites a labelled folder
    assert "already exists" in capsys.readouterr().err


def test_clips_placeholder_labels_every_clip_train_unchanged(tmp_path, cli, capsys):
    game = make_video(tmp_path / "game.mp4", n_frames=60, width=192, height=108)
    clips = tmp_path / "clips"
    args = ["--clip-len", "8", "--size", "48", "--quiet"]
    assert cli("clips", game, "--out", clips, "--placeholder", "no_action", *args) == 0
    annotations = json.loads((clips / "annotation_dict.json").read_text())
    assert annotations and set(annotations.values()) == {SPACEJAM.index("no_action")}
    assert "every clip labelled 'no_action'" in words(capsys.readouterr().out)
    labels = tmp_path / "labels_dict.json"
    labels.write_text(json.dumps({"0": "idle", "1": "move"}))
    assert cli("clips", game, "--out", tmp_path / "own", "--labels", labels, "--placeholder", "move", *args) == 0
    own = json.loads((tmp_path / "own" / "annotation_dict.json").read_text())
    assert set(own.values()) == {1} and json.loads((tmp_path / "own" / "labels_dict.json").read_text()) == {
        "0": "idle",
        "1": "move",
    }
    out = tmp_path / "own.pt"
    train = [
        "--epochs",
        "1",
        "--init",
        "none",
        "--arch",
        "mc3_18",
        "--clip-len",
        "4",
        "--resize",
        "32",
        "--crop-size",
        "24",
    ]
    assert cli("train", clips, "--out", out, *train, "--workers", "0") == 0
    assert read_checkpoint(out)[0].background == "no_action"


# --------------------------------------------------------------------------- --from-run


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A game analysed with the fake detector and a tiny random recognizer (no background class,
    so settled windows become events), and the same game cut by ``clips GAME``."""
    root = tmp_path_factory.mktemp("analysed")
    game = make_video(root / "game.mp4", n_frames=60, width=192, height=108)
    checkpoint = make_checkpoint(root / "model.pt", architecture="mc3_18", background=None, crop_size=16, resize=20)
    cli = cli_with(ShapeDetector())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOOPSENSE_HOME", str(root / "home"))
        run = root / "run" / "game.mp4"
        assert cli("analyze", game, "--out", run, "--recognizer", checkpoint, "--stride", "4", "--quiet") == 0
        assert cli("clips", game, "--out", root / "direct", "--clip-len", "8", "--size", "48", "--quiet") == 0
    return root


def _tracks(run: Path) -> dict[int, dict[int, tuple[float, ...]]]:
    """``{player: {frame: box}}`` from a run's tracks.csv."""
    out: dict[int, dict[int, tuple[float, ...]]] = {}
    with open(run / "game.tracks.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(int(r["player_id"]), {})[int(r["frame"])] = tuple(
                float(r[k]) for k in ("x1", "y1", "x2", "y2")
            )
    return out


def _events(run: Path) -> dict[int, list]:
    from hoopsense.pipeline.timeline import ActionEvent

    out: dict[int, list] = {}
    with open(run / "game.timeline.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            e = ActionEvent(int(r["player_id"]), r["action"], int(r["start_frame"]), int(r["end_frame"]),
                            float(r["start_s"]), float(r["end_s"]), float(r["confidence"]))  # fmt: skip
            out.setdefault(e.player_id, []).append(e)
    return out


def _most_overlapping(events: list, first: int, last: int):
    """The event overlapping frames first..last most (ties: more confident, then earlier), or None."""
    scored = [
        (min(e.end_frame, last) - max(e.start_frame, first) + 1, e.confidence, -i, e) for i, e in enumerate(events)
    ]
    scored = [x for x in scored if x[0] > 0]
    return max(scored, key=lambda x: x[:3])[3] if scored else None


def test_clips_from_run_are_the_clips_of_the_game_starting_with_its_predictions(analysed, tmp_path, cli, capsys):
    run, clips = analysed / "run", tmp_path / "clips"
    assert cli("clips", "--from-run", run, "--out", clips, "--clip-len", "8", "--size", "48", "--quiet") == 0
    # no detector ran, yet the clips are those `clips GAME` cuts: same ids, frames, boxes, pictures
    direct = analysed / "direct"
    assert (clips / "clips.csv").read_text() == (direct / "clips.csv").read_text()
    for clip in read_sources(direct):
        a = np.stack([f.image for f in VideoReader(direct / f"{clip}.mp4")])
        b = np.stack([f.image for f in VideoReader(clips / f"{clip}.mp4")])
        assert np.array_equal(a, b), clip
    tracks = _tracks(run)
    sources = read_sources(clips)
    for clip, src in sources.items():
        # frames the player was missed in are bridged (interpolated boxes inside the seen ones)
        boxes = [
            tracks[src.player_id][f] for f in range(src.start_frame, src.end_frame + 1) if f in tracks[src.player_id]
        ]
        assert src.box == pytest.approx(
            (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        )
    # each clip starts with the timeline event of its player that overlaps it most, as a proposal
    labels = json.loads((clips / "labels_dict.json").read_text())
    assert labels == {"0": "dribble", "1": "shoot", "2": "no_action"}  # the recognizer's labels
    annotations = json.loads((clips / "annotation_dict.json").read_text())
    proposed = json.loads((clips / "labelling.json").read_text())["proposed"]
    events = _events(run)
    assert events, "the tiny recognizer produced no event: the test would prove nothing"
    for clip, src in sources.items():
        e = _most_overlapping(events.get(src.player_id, []), src.start_frame, src.end_frame)
        if e is None:
            assert annotations[clip] is None and clip not in proposed
        else:
            assert labels[str(annotations[clip])] == e.action
            assert proposed[clip] == {"label": e.action, "confidence": e.confidence}
    assert len(proposed) == sum(v is not None for v in annotations.values()) >= len(annotations) // 2
    store = LabelStore(clips)
    assert store.counts()["unreviewed"] == len(proposed)
    text = words(capsys.readouterr().out)
    assert f"{len(proposed)} start with the run's prediction as an unreviewed proposal" in text
    assert f"`hoopsense label {clips}`" in text


def test_clips_from_run_whose_game_moved(analysed, tmp_path, cli, capsys):
    run = Path(shutil.copytree(analysed / "run", tmp_path / "run"))
    doc = json.loads((run / "game.run.json").read_text())
    doc["input"]["path"] = str(tmp_path / "gone" / "game.mp4")
    (run / "game.run.json").write_text(json.dumps(doc))
    clips = tmp_path / "clips"
    assert cli("clips", "--from-run", run / "game.run.json", "--out", clips, "--clip-len", "8", "--quiet") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gone" in err and "GAME" in err
    assert not clips.exists() and not list(tmp_path.glob(".clips*"))
    # the annotated video is not the game
    assert cli("clips", run / "game.mp4", "--from-run", run, "--out", clips, "--quiet") == 1
    assert "annotated video" in capsys.readouterr().err and not clips.exists()
    game = shutil.copy(analysed / "game.mp4", tmp_path / "moved.mp4")
    assert cli("clips", game, "--from-run", run, "--out", clips, "--clip-len", "8", "--size", "48", "--quiet") == 0
    assert {s.source for s in read_sources(clips).values()} == {str(game)}
    moved = {k.replace("game-", "moved-", 1) for k in read_sources(analysed / "direct")}
    assert set(json.loads((clips / "annotation_dict.json").read_text())) == moved  # ids name the game as given


def test_clips_from_run_refuses_a_run_without_recognizer(tmp_path, cli, capsys):
    game = make_video(tmp_path / "game.mp4", n_frames=30)
    assert cli("analyze", game, "--out", tmp_path / "run" / "game.mp4", "--quiet") == 0
    capsys.readouterr()
    for run in (tmp_path / "run", tmp_path / "missing"):
        clips = tmp_path / "clips"
        assert cli("clips", "--from-run", run, "--out", clips, "--quiet") == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error:")
        assert ("--recognizer" in err) if run.name == "run" else ("missing" in err)
        assert not clips.exists() and not list(tmp_path.glob(".clips*"))

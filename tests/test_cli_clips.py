"""``hoopsense clips``: a game cut into a SpaceJam-format folder that ``train`` reads."""

from __future__ import annotations

import json

from synth import make_video

from hoopsense.recognizer.model import read_checkpoint


def test_clips_cut_from_a_game_train_unchanged(tmp_path, cli, capsys):
    game = make_video(tmp_path / "game.mp4", n_frames=60, width=192, height=108)
    clips = tmp_path / "clips"
    assert cli("clips", game, "--out", clips, "--clip-len", "8", "--size", "48", "--quiet") == 0
    annotations = json.loads((clips / "annotation_dict.json").read_text())
    labels = json.loads((clips / "labels_dict.json").read_text())
    assert labels["8"] == "no_action" and set(annotations.values()) == {8}
    rows = (clips / "clips.csv").read_text().splitlines()
    assert rows[0].startswith("id,player_id,start_frame,end_frame") and len(rows) - 1 == len(annotations)
    assert len({r.split(",")[1] for r in rows[1:]}) >= 2  # several players
    from hoopsense.video import probe

    first = probe(clips / f"{next(iter(annotations))}.mp4")
    assert (first.width, first.height, first.n_frames) == (48, 48, 8)
    out = tmp_path / "own.pt"
    assert (
        cli(
            "train",
            clips,
            "--out",
            out,
            "--epochs",
            "1",
            "--init",
            "none",
            "--clip-len",
            "8",
            "--resize",
            "48",
            "--crop-size",
            "40",
            "--workers",
            "0",
        )
        == 0
    )
    assert read_checkpoint(out)[0].background == "no_action"
    assert cli("clips", game, "--out", clips, "--quiet") == 1  # never overwrites a labelled folder
    assert "already exists" in capsys.readouterr().err

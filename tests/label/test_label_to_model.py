"""End to end: label clips through the HTTP calls the page makes, train on them, analyse a real clip with the result."""

from __future__ import annotations

import json

import pytest
from conftest import FOOTAGE, ONNX_DETECTOR, need_asset
from motion import make_motion_dataset
from servers import Server

from hoopsense.cli import main
from hoopsense.recognizer.model import read_checkpoint

pytestmark = pytest.mark.slow


def test_label_in_the_app_then_train_then_analyze(tmp_path):
    video = need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4")
    detector = need_asset(ONNX_DETECTOR)
    folder = make_motion_dataset(tmp_path / "clips", per_class=6)
    truth = json.loads((folder / "annotation_dict.json").read_text())
    (folder / "annotation_dict.json").write_text(json.dumps(dict.fromkeys(truth)))  # nothing labelled yet

    with Server("label", folder, "--port", "0", "--no-browser") as server:
        status, state = server.request("GET", "/api/state")
        assert status == 200 and state["counts"]["labelled"] == 0
        assert state["labels"] == ["left", "right", "bounce", "still"]
        for clip in state["clips"]["id"]:
            status, detail = server.request("GET", "/api/clip", params={"clip": clip})
            assert status == 200 and detail["strip"]["frames"] == 16
            status, body = server.request("PUT", "/api/label", {"clip": clip, "label": truth[clip]})
            assert status == 200
        assert body["counts"]["labelled"] == len(truth)
    assert json.loads((folder / "annotation_dict.json").read_text()) == truth

    model = tmp_path / "model.pt"
    tiny = ["--clip-len", "4", "--frame-step", "2", "--resize", "40", "--crop-size", "32", "--workers", "0"]
    assert main(["train", str(folder), "--out", str(model), "--epochs", "2", "--init", "none", *tiny]) == 0
    assert read_checkpoint(model)[0].labels == ("left", "right", "bounce", "still")

    out = tmp_path / "run" / "nba.mp4"
    args = ["analyze", str(video), "--out", str(out), "--detector", str(detector), "--recognizer", str(model)]
    assert main([*args, "--end", "1.5", "--quiet"]) == 0
    timeline = json.loads(out.with_name("nba.timeline.json").read_text())
    actions = {e["action"] for p in timeline["players"] for e in p["events"]}
    assert actions and actions <= {"left", "right", "bounce", "still"}

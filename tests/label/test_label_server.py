"""``hoopsense label`` as a real process over real HTTP: token, ids, saving through kill -9, two pages, CSV, errors."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from motion import make_motion_dataset
from servers import Server

from hoopsense.cli import main


@pytest.fixture
def folder(tmp_path) -> Path:
    """Synthetic clips, every one unlabelled (as `hoopsense clips` leaves them); the true labels in ``.truth``."""
    root = make_motion_dataset(tmp_path / "clips", per_class=4)
    truth = json.loads((root / "annotation_dict.json").read_text())
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    (root / "annotation_dict.json").write_text(json.dumps(dict.fromkeys(truth)))
    return root


def truth_of(folder: Path) -> dict[str, int]:
    return json.loads((folder.parent / "truth.json").read_text())


def saved(folder: Path) -> dict:
    return json.loads((folder / "annotation_dict.json").read_text())


def serve(folder: Path, *extra) -> Server:
    return Server("label", folder, "--port", "0", "--no-browser", *extra)


def test_every_request_needs_the_launch_token(folder):
    with serve(folder) as s:
        assert s.url.startswith("http://127.0.0.1:")  # loopback by default
        for path in ("/", "/api/state", "/assets/label.js", "/api/labels.csv", "/docs", "/nothing"):
            status, body = s.request("GET", path, token=None)
            assert status == 403, path
            assert b"token" in body
            assert s.request("GET", path, token="wrong-" + s.token)[0] == 403
        status, _ = s.request("PUT", "/api/label", {"clip": "0000000", "label": 1}, token=None)
        assert status == 403 and saved(folder)["0000000"] is None
        status, page = s.request("GET", "/")
        assert status == 200 and b'<script src="assets/label.js?token=' in page
        status, _ = s.request("GET", "/api/state", token=None, headers={"X-Token": s.token})
        assert status == 200
    with serve(folder) as again:
        assert again.token != s.token  # a new token per launch
        assert again.request("GET", "/api/state", token=s.token)[0] == 403


def test_clip_ids_never_reach_outside_the_folder(folder, tmp_path):
    outside = tmp_path / "secret.mp4"
    outside.write_bytes((folder / "0000000.mp4").read_bytes())
    with serve(folder) as s:
        for bad in ("../secret", "../../etc/passwd", "/etc/passwd", "..%2Fsecret", "0000000/../../secret"):
            assert s.request("PUT", "/api/label", {"clip": bad, "label": 0})[0] == 404, bad
            assert s.request("PUT", "/api/unsure", {"clip": bad, "unsure": True})[0] == 404
            for path in ("/api/clip", "/api/strip.jpg", "/api/source.jpg"):
                assert s.request("GET", path, params={"clip": bad})[0] == 404, (path, bad)
        assert s.request("GET", "/assets/../../store.py")[0] == 404
        assert s.request("GET", "/assets/store.py")[0] == 404
        status, strip = s.request("GET", "/api/strip.jpg", params={"clip": "0000000"})
        assert status == 200 and strip[:2] == b"\xff\xd8"  # a JPEG of the folder's own clip
    assert set(saved(folder).values()) == {None}


def test_labels_survive_kill_9_and_a_restart(folder):
    truth = truth_of(folder)
    ids = list(truth)
    s = serve(folder)
    try:
        for clip in ids[:10]:
            status, body = s.request("PUT", "/api/label", {"clip": clip, "label": truth[clip]})
            assert status == 200 and body["row"] == [clip, truth[clip], 0, -1]
        s.request("PUT", "/api/unsure", {"clip": ids[10], "unsure": True})
    finally:
        s.kill()
    on_disk = saved(folder)  # valid JSON after the kill
    assert {c: on_disk[c] for c in ids[:10]} == {c: truth[c] for c in ids[:10]}
    assert all(on_disk[c] is None for c in ids[10:])
    with serve(folder) as again:
        _, state = again.request("GET", "/api/state")
        assert state["clips"]["label"][:10] == [truth[c] for c in ids[:10]]
        assert state["clips"]["unsure"][10] == 1 and state["counts"]["labelled"] == 10


def test_two_pages_labelling_at_once_keep_both_sets(folder):
    truth = truth_of(folder)
    ids = list(truth)
    errors: list = []
    with serve(folder) as s:

        def page(mine: list[str]) -> None:
            for clip in mine:
                status, _ = s.request("PUT", "/api/label", {"clip": clip, "label": truth[clip]})
                if status != 200:
                    errors.append((clip, status))

        tabs = [threading.Thread(target=page, args=(ids[k::2],)) for k in range(2)]
        for t in tabs:
            t.start()
        for t in tabs:
            t.join()
        assert not errors
        assert saved(folder) == truth
        _, changes = s.request("GET", "/api/changes", params={"since": 0})
        assert {row[0] for row in changes["clips"]} == set(ids)  # each page learns the other's labels
        assert changes["counts"]["labelled"] == len(ids) and changes["counts"]["per_minute"] > 0


def test_undo_does_not_erase_another_pages_label(folder):
    clip = "0000003"
    with serve(folder) as s:
        s.request("PUT", "/api/label", {"clip": clip, "label": 0})  # page A labels
        s.request("PUT", "/api/label", {"clip": clip, "label": 2})  # page B relabels
        status, body = s.request("PUT", "/api/label", {"clip": clip, "label": None, "expect": 0, "check": True})
        assert status == 409 and "meanwhile" in body["detail"]  # A's undo is refused
    assert saved(folder)[clip] == 2


def test_import_export_and_new_classes_over_http(folder):
    evil = "<img src=x onerror=alert(1)>"
    with serve(folder) as s:
        status, body = s.request(
            "POST", "/api/labels.csv", f"clip_id,label\n0000001,bounce\n0000002,{evil}\nnope,left\n"
        )
        assert status == 200 and body["applied"] == 2 and body["unknown"] == 1 and body["new_classes"] == [evil]
        status, body = s.request("POST", "/api/classes", {"name": "dunk"})
        assert status == 200 and body["labels"][-1] == "dunk"
        assert s.request("POST", "/api/classes", {"name": "DUNK"})[0] == 400
        status, csv = s.request("GET", "/api/labels.csv")
        assert status == 200 and csv.decode().splitlines() == ["clip_id,label", "0000001,bounce", f"0000002,{evil}"]
        assert s.request("POST", "/api/labels.csv", "a,b,c\n")[0] == 400
    labels = json.loads((folder / "labels_dict.json").read_text())
    assert list(labels.values())[-2:] == [evil, "dunk"]


def test_cli_import_and_export(folder, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("0000000,left\n0000005,still\n")
    assert main(["label", str(folder), "--import", str(source), "--export", str(tmp_path / "out.csv")]) == 0
    assert (tmp_path / "out.csv").read_text().splitlines() == ["clip_id,label", "0000000,left", "0000005,still"]
    assert "2 labels changed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "70000"], "--port must be in [0, 65535]"),
        (["--host", "no.such.host.invalid"], "is not an address of this machine"),
        (["--recognizer", "missing.pt"], "--recognizer missing.pt not found"),
    ],
)
def test_bad_options_are_one_line(folder, capsys, args, message):
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert main(["label", str(folder), "--no-browser", *args]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".labels.lock"} == before


def test_a_busy_port_and_a_folder_without_labels_are_one_line(folder, tmp_path, capsys):
    with serve(folder) as s:
        port = s.base.rsplit(":", 1)[1]
        assert main(["label", str(folder), "--no-browser", "--port", port]) == 1
        assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["label", str(empty), "--no-browser"]) == 1
    assert "missing labels_dict.json" in capsys.readouterr().err
    assert main(["label", str(tmp_path / "nope"), "--no-browser"]) == 1
    assert "clip folder not found" in capsys.readouterr().err


def test_proposals_are_shown_and_reviewed(folder):
    from hoopsense.label.store import LabellingState

    ids = list(truth_of(folder))
    proposals = {ids[0]: ("left", 0.35), ids[1]: ("still", 0.9)}
    (folder / "annotation_dict.json").write_text(
        json.dumps({c: {"left": 0, "still": 3}[proposals[c][0]] if c in proposals else None for c in ids})
    )
    (folder / "labelling.json").write_text(LabellingState(proposed=proposals).to_json())
    with serve(folder) as s:
        _, state = s.request("GET", "/api/state")
        assert state["clips"]["proposed"][:3] == [0.35, 0.9, -1] and state["counts"]["unreviewed"] == 2
        _, detail = s.request("GET", "/api/clip", params={"clip": ids[0]})
        assert detail["proposal"] == ["left", 0.35]
        _, body = s.request("PUT", "/api/label", {"clip": ids[0], "label": 0})  # confirmed as proposed
        assert body["row"] == [ids[0], 0, 0, -1] and body["counts"]["unreviewed"] == 1
        _, body = s.request("PUT", "/api/label", {"clip": ids[1], "label": 1})  # corrected
        assert body["counts"]["unreviewed"] == 0 and body["counts"]["per_class"][:2] == [1, 1]
    assert json.loads((folder / "labelling.json").read_text())["proposed"] == {}


def wait_for_coverage(server: Server, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        _, state = server.request("GET", "/api/state")
        if state["coverage"]["ready"] or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def test_varied_first_order_over_http(folder):
    """The server deals the unlabelled clips out over clusters of motion: one of each kind first."""
    truth = truth_of(folder)
    with serve(folder) as s:
        state = wait_for_coverage(s)
        ids = state["clips"]["id"]
        assert state["coverage"] == {"done": len(ids), "total": len(ids), "ready": True}
        status, varied = s.request("GET", "/api/order", params={"by": "varied"})
        assert status == 200 and varied["ready"] and sorted(varied["order"]) == list(range(len(ids)))
        assert {truth[ids[i]] for i in varied["order"][:4]} == {0, 1, 2, 3}  # left, right, bounce, still
        first = ids[varied["order"][0]]
        assert s.request("PUT", "/api/label", {"clip": first, "label": truth[first]})[0] == 200
        _, again = s.request("GET", "/api/order", params={"by": "varied"})
        assert sorted(again["order"]) == sorted(set(range(len(ids))) - {ids.index(first)})
        # without guesses or proposals, least confident first has nothing to weigh: the varied order
        _, confidence = s.request("GET", "/api/order", params={"by": "confidence"})
        assert confidence["order"] == again["order"]
        assert s.request("GET", "/api/order", params={"by": "<script>"})[0] == 422
        assert s.request("GET", "/api/order", params={"by": "varied"}, token=None)[0] == 403

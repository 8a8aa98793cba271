"""The label store: null vs a label, one change at a time, atomic, safe between stores and processes, CSV."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from hoopsense.errors import ConfigError
from hoopsense.label.store import (
    ClipSource,
    ConflictError,
    LabellingState,
    LabelStore,
    check_class_name,
    write_folder,
)

LABELS = ("dribble", "shoot", "no_action")


def make_folder(root: Path, n: int = 6, *, labels=LABELS, annotations=None, state=None) -> Path:
    """A clip folder with ``n`` tiny (not decodable; the store never decodes) clip files."""
    root.mkdir(parents=True, exist_ok=True)
    ids = [f"game-p{i % 3:03d}-f{i * 16:06d}" for i in range(n)]
    for clip in ids:
        (root / f"{clip}.mp4").write_bytes(b"")
    sources = {
        c: ClipSource(i % 3, i * 16, i * 16 + 15, i * 0.64, (i + 1) * 0.64, (1, 2, 30, 60), "game.mp4")
        for i, c in enumerate(ids)
    }
    write_folder(root, labels, annotations or dict.fromkeys(ids), sources, state)
    return root


def ann(folder: Path) -> dict:
    return json.loads((folder / "annotation_dict.json").read_text())


def test_unlabelled_is_null_and_differs_from_no_action(tmp_path):
    folder = make_folder(tmp_path / "c")
    store = LabelStore(folder)
    first, second = store.clips[:2]
    store.set_label(first, LABELS.index("no_action"))
    doc = ann(folder)
    assert doc[first] == 2 and doc[second] is None
    counts = store.counts()
    assert counts["labelled"] == 1 and counts["total"] == 6 and counts["per_class"] == [0, 0, 1]
    store.set_label(first, None)
    assert ann(folder)[first] is None


def test_every_change_is_on_disk_at_once_and_keeps_cut_order(tmp_path):
    folder = make_folder(tmp_path / "c")
    store = LabelStore(folder)
    for i, clip in enumerate(store.clips):
        store.set_label(clip, i % 2)
        assert ann(folder)[clip] == i % 2  # saved the moment it is given
    assert list(ann(folder)) == store.clips
    assert not [p for p in folder.iterdir() if ".tmp" in p.name]  # no temporary file left behind


def test_two_stores_on_one_folder_keep_each_others_labels(tmp_path):
    folder = make_folder(tmp_path / "c")
    a, b = LabelStore(folder), LabelStore(folder)
    a.set_label(a.clips[0], 0)
    b.set_label(b.clips[1], 1)  # b re-reads a's change before writing its own
    seen = b.version
    assert b.changes_since(seen) == []
    a.set_label(a.clips[2], 2)
    assert [ann(folder)[c] for c in a.clips[:3]] == [0, 1, 2]
    assert b.changes_since(seen) == [a.clips[2]]  # b's pages learn of a's change


def _label_many(folder: str, offset: int, n: int) -> None:
    store = LabelStore(folder)
    for i in range(offset, len(store.clips), n):
        store.set_label(store.clips[i], offset)


def test_processes_labelling_at_once_lose_nothing(tmp_path):
    folder = make_folder(tmp_path / "c", n=40)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_label_many, args=(str(folder), k, 2)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    doc = ann(folder)
    assert [doc[c] for c in LabelStore(folder).clips] == [i % 2 for i in range(40)]


def test_conditional_change_refuses_a_label_changed_meanwhile(tmp_path):
    folder = make_folder(tmp_path / "c")
    a, b = LabelStore(folder), LabelStore(folder)
    clip = a.clips[0]
    a.set_label(clip, 0)
    b.set_label(clip, 1)  # another page relabels it
    with pytest.raises(ConflictError, match="labelled meanwhile"):
        a.set_label(clip, None, expect=0)  # an undo of a's label must not erase b's
    assert ann(folder)[clip] == 1
    a.set_label(clip, None, expect=1)
    assert ann(folder)[clip] is None


def test_a_person_labelling_reviews_a_proposal_and_clears_unsure(tmp_path):
    state = LabellingState(proposed={"game-p000-f000000": ("shoot", 0.4)})
    folder = make_folder(
        tmp_path / "c",
        annotations={f"game-p{i % 3:03d}-f{i * 16:06d}": (1 if i == 0 else None) for i in range(6)},
        state=state,
    )
    store = LabelStore(folder)
    first, second = store.clips[:2]
    assert store.proposal(first) == ("shoot", 0.4) and store.counts()["unreviewed"] == 1
    store.set_unsure(second, True)
    assert json.loads((folder / "labelling.json").read_text())["unsure"] == [second]
    store.set_label(first, 1)  # confirmed: same label, now reviewed
    store.set_label(second, 0)
    saved = json.loads((folder / "labelling.json").read_text())
    assert saved["proposed"] == {} and saved["unsure"] == []
    assert store.counts()["unreviewed"] == 0 and store.counts()["unsure"] == 0


def test_a_proposal_relabelled_elsewhere_no_longer_counts(tmp_path):
    clip = "game-p000-f000000"
    folder = make_folder(
        tmp_path / "c", annotations={clip: 1}, state=LabellingState(proposed={clip: ("shoot", 0.9)}), n=1
    )
    doc = ann(folder)
    doc[clip] = 0  # edited by hand: the proposal is no longer the label
    (folder / "annotation_dict.json").write_text(json.dumps(doc))
    assert LabelStore(folder).proposal(clip) is None


def test_clip_ids_are_looked_up_never_used_as_paths(tmp_path):
    folder = make_folder(tmp_path / "c")
    (tmp_path / "secret.mp4").write_bytes(b"")
    store = LabelStore(folder)
    for bad in ("../secret", "../../etc/passwd", "/etc/passwd", "", "game-p000-f000000/../x"):
        with pytest.raises(KeyError):
            store.set_label(bad, 0)
        with pytest.raises(KeyError):
            store.clip_path(bad)


def test_add_class_checks_the_name(tmp_path):
    store = LabelStore(make_folder(tmp_path / "c"))
    assert store.add_class("  block ") == 3 and store.labels[-1] == "block"
    assert json.loads((store.folder / "labels_dict.json").read_text())["3"] == "block"
    for bad, message in (("", "empty"), ("Shoot", "already"), ("a\nb", "control"), ("x" * 65, "at most")):
        with pytest.raises(ConfigError, match=message):
            store.add_class(bad)
    assert check_class_name('<img src=x onerror="alert(1)">') == '<img src=x onerror="alert(1)">'  # text is text


def test_csv_round_trip_and_import(tmp_path):
    store = LabelStore(make_folder(tmp_path / "c"))
    c = store.clips
    store.set_label(c[0], 0)
    store.set_label(c[3], 2)
    exported = store.export_csv()
    assert exported.splitlines() == ["clip_id,label", f"{c[0]},dribble", f"{c[3]},no_action"]
    other = LabelStore(make_folder(tmp_path / "d"))
    result = other.import_csv(exported + f"{c[1]},dunk\nnot-a-clip,shoot\n{c[2]},SHOOT\n{c[4]},\n")
    assert result.applied == 4 and result.unknown_ids == ("not-a-clip",) and result.new_classes == ("dunk",)
    assert other.labels == [*LABELS, "dunk"]
    assert [ann(other.folder)[x] for x in c[:5]] == [0, 3, 1, 2, None]
    again = other.import_csv(exported)
    assert again.applied == 0 and again.unchanged == 2


@pytest.mark.parametrize(
    "text, message",
    [("a,b,c\n", "expected clip_id,label"), ("x,\x00bad\n", "control characters"), (f"c,{'y' * 80}\n", "at most")],
)
def test_a_bad_import_changes_nothing(tmp_path, text, message):
    store = LabelStore(make_folder(tmp_path / "c"))
    store.set_label(store.clips[0], 1)
    before = {p.name: p.read_bytes() for p in store.folder.iterdir()}
    with pytest.raises(ConfigError, match=message):
        store.import_csv(
            f"{store.clips[1]},shoot\n" + text.replace("x,", f"{store.clips[2]},").replace("c,", f"{store.clips[3]},")
        )
    assert {p.name: p.read_bytes() for p in store.folder.iterdir()} == before


def test_bad_label_files_are_one_clear_error(tmp_path):
    folder = make_folder(tmp_path / "c")
    (folder / "annotation_dict.json").write_text(json.dumps({"game-p000-f000000": 7}))
    with pytest.raises(ConfigError, match="labels are indices 0..2 or null"):
        LabelStore(folder)
    (folder / "annotation_dict.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        LabelStore(folder)
    os.remove(folder / "labels_dict.json")
    with pytest.raises(ConfigError, match="missing labels_dict.json"):
        LabelStore(folder)

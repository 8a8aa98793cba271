"""SpaceJam-format folders as ``hoopsense clips`` and the labeller leave them: clips nobody has
labelled yet (``null``) and labels a model proposed that nobody has reviewed (``labelling.json``).

The loader only checks that clip files exist, so the clips here are empty files (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hoopsense.errors import ConfigError
from hoopsense.label.store import LabellingState
from hoopsense.training.formats import load_dataset

LABELS = ("left", "right", "no_action")


def clip_folder(root: Path, annotations: dict, *, extra_files: tuple[str, ...] = (), labels=LABELS) -> Path:
    """``annotation_dict.json``, ``labels_dict.json`` and an (empty) ``<id>.mp4`` per annotated id."""
    root.mkdir(parents=True)
    (root / "annotation_dict.json").write_text(json.dumps(annotations))
    (root / "labels_dict.json").write_text(json.dumps({str(i): n for i, n in enumerate(labels)}))
    for name in (*annotations, *extra_files):
        (root / f"{name}.mp4").write_bytes(b"")
    return root


def test_unlabelled_clips_are_left_out_with_a_note(tmp_path):
    root = clip_folder(tmp_path / "game", {"c0": 0, "c1": None, "c2": 1, "c3": None, "c4": 2})
    data = load_dataset(root, "spacejam")
    assert [r.id for r in data.records] == ["c0", "c2", "c4"]
    assert [data.labels[r.label] for r in data.records] == ["left", "right", "no_action"]
    assert f"2 clips are not labelled yet (label them with `hoopsense label {root}`)" in data.skipped
    assert not any("unknown label" in note for note in data.skipped)  # null is not a bad label


def test_augmented_copy_of_an_unlabelled_clip_is_left_out(tmp_path):
    root = clip_folder(
        tmp_path / "game",
        {"c0": 0, "c1": None, "c1_rotate_30": None},
        extra_files=("c0_flipped_1", "c1_flipped_1", "c2"),  # c2: a clip file without an entry
    )
    data = load_dataset(root, "spacejam")
    assert sorted(r.id for r in data.records) == ["c0", "c0_flipped_1"]  # the copy of a labelled clip inherits
    assert {r.group for r in data.records} == {"c0"}
    # c1, its entry-less copy, its copy with a null entry and the stray c2 all wait for a label
    assert any(note.startswith("4 clips are not labelled yet") for note in data.skipped)


def test_a_folder_with_nothing_labelled_is_one_clear_error(tmp_path):
    root = clip_folder(tmp_path / "game", {"c0": None, "c1": None, "c2": None})
    with pytest.raises(ConfigError) as info:
        load_dataset(root, "spacejam")
    message = str(info.value)
    assert "no usable clips" in message and "nothing is labelled yet" in message and "\n" not in message
    assert f"hoopsense label {root}" in message


def test_unreviewed_model_proposals_are_used_and_reported(tmp_path):
    root = clip_folder(tmp_path / "game", {"c0": 0, "c1": 1, "c2": 1, "c3": 2, "c4": None})
    (root / "c0_flipped_1.mp4").write_bytes(b"")  # an augmented copy inherits its original's proposal
    state = LabellingState(
        proposed={
            "c0": ("left", 0.9),  # still the label: unreviewed
            "c1": ("left", 0.6),  # someone changed it to right: reviewed
            "c3": ("no_action", 0.7),  # unreviewed
            "c4": ("right", 0.5),  # unlabelled since: not used at all
        }
    )
    (root / "labelling.json").write_text(state.to_json())
    data = load_dataset(root, "spacejam")
    assert {r.id: data.labels[r.label] for r in data.records} == {
        "c0": "left",
        "c0_flipped_1": "left",
        "c1": "right",
        "c2": "right",
        "c3": "no_action",
    }
    note = f"3 labels are model proposals nobody has reviewed; review them with `hoopsense label {root}`"
    assert note in data.skipped
    (root / "labelling.json").unlink()
    assert not any("proposals" in n for n in load_dataset(root, "spacejam").skipped)


def test_unreviewed_proposals_of_a_dropped_class_are_not_counted(tmp_path):
    root = clip_folder(tmp_path / "game", {"c0": 0, "c1": 2}, labels=("left", "right", "discard"))
    (root / "labelling.json").write_text(LabellingState(proposed={"c1": ("discard", 0.9)}).to_json())
    data = load_dataset(root, "spacejam")
    assert [r.id for r in data.records] == ["c0"]
    assert not any("proposals" in n for n in data.skipped)
    kept = load_dataset(root, "spacejam", drop=())
    assert any(n.startswith("1 labels are model proposals") for n in kept.skipped)


def test_labels_that_are_not_indices_are_reported_and_skipped(tmp_path):
    root = clip_folder(tmp_path / "game", {"c0": 0, "c1": True, "c2": "1", "c3": 3, "c4": -1})
    data = load_dataset(root, "spacejam")
    assert [r.id for r in data.records] == ["c0"]
    for bad in ("c1: unknown label True", "c2: unknown label '1'", "c3: unknown label 3", "c4: unknown label -1"):
        assert bad in data.skipped


def test_a_broken_labelling_state_is_one_clear_error(tmp_path):
    root = clip_folder(tmp_path / "game", {"c0": 0})
    (root / "labelling.json").write_text("{not json")
    with pytest.raises(ConfigError, match="labelling.json is not valid JSON"):
        load_dataset(root, "spacejam")

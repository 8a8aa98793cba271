"""Several clip folders (several games) merged into one training set.

The loader only checks that clip files exist, so the clips here are empty files (fast)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from hoopsense.errors import ConfigError
from hoopsense.training.formats import load_dataset, load_datasets
from hoopsense.training.splits import load_split, make_split, save_split


def game_folder(root: Path, labels: tuple[str, ...], players: int = 6, clips: int = 3, game: str = "game") -> Path:
    """A folder as ``hoopsense clips`` cuts one game (``<game>-pNNN-fNNNNNN`` ids): player ``p``'s clips
    all have label ``p % len(labels)``, so every class has several player groups."""
    root.mkdir(parents=True)
    annotations = {}
    for p in range(1, players + 1):
        for k in range(clips):
            clip = f"{game}-p{p:03d}-f{16 * k:06d}"
            annotations[clip] = p % len(labels)
            (root / f"{clip}.mp4").write_bytes(b"")
    (root / "annotation_dict.json").write_text(json.dumps(annotations))
    (root / "labels_dict.json").write_text(json.dumps({str(i): n for i, n in enumerate(labels)}))
    return root


def test_one_folder_loads_exactly_as_before(tmp_path):
    root = game_folder(tmp_path / "a", ("left", "right"))
    one, merged = load_dataset(root, "spacejam"), load_datasets([root], "spacejam")
    assert merged.records == one.records and merged.labels == one.labels and merged.skipped == one.skipped
    assert merged.roots == (root,) and merged.root == root
    assert all("/" not in r.id for r in merged.records)
    split = make_split(merged, seed=0)
    doc = json.loads(save_split(split, tmp_path / "s.json", merged).read_text())
    assert "roots" not in doc and doc["root"] == str(root)  # old split files look the same


def test_labels_are_the_union_by_name_and_ids_and_groups_are_prefixed(tmp_path):
    a = game_folder(tmp_path / "a", ("left", "right", "still"))
    b = game_folder(tmp_path / "b", ("still", "no_action", "left"))  # lacks right, adds no_action
    data = load_datasets([a, b], "spacejam")
    assert data.labels == ("left", "right", "still", "no_action")
    assert data.roots == (a, b) and data.root == a
    by_id = {r.id: r for r in data.records}
    assert len(by_id) == len(data.records) == 36  # the same clip ids in both games stay apart
    assert data.labels[by_id["a/game-p001-f000000"].label] == "right"
    assert data.labels[by_id["b/game-p001-f000000"].label] == "no_action"
    assert data.labels[by_id["b/game-p002-f000016"].label] == "left"
    assert data.labels[by_id["b/game-p003-f000000"].label] == "still"
    assert by_id["a/game-p001-f000000"].group == "a/game-p001"
    assert by_id["b/game-p001-f000000"].group == "b/game-p001"
    assert all(r.path.parent == (a if r.id.startswith("a/") else b) for r in data.records)
    assert data.counts() == {"left": 4 * 3, "right": 2 * 3, "still": 4 * 3, "no_action": 2 * 3}


@pytest.mark.parametrize("seed", range(4))
def test_the_split_keeps_every_game_and_player_group_on_one_side(tmp_path, seed):
    a = game_folder(tmp_path / "a", ("left", "right"), players=8)
    b = game_folder(tmp_path / "b", ("left", "right"), players=8)  # the same game name and player ids
    data = load_datasets([a, b], "spacejam")
    split = make_split(data, val_fraction=0.3, seed=seed)
    group = {r.id: r.group for r in data.records}
    assert sorted(split.train + split.val) == sorted(group)
    assert not {group[i] for i in split.train} & {group[i] for i in split.val}
    members: dict[str, set[str]] = defaultdict(set)
    for r in data.records:
        members[r.group].add(r.id.split("/", 1)[0])
    assert len(members) == 16 and all(len(folders) == 1 for folders in members.values())  # no group spans games
    assert split.val and split.train


def test_the_split_file_names_every_folder_and_loads_back(tmp_path):
    a = game_folder(tmp_path / "a", ("left", "right"))
    b = game_folder(tmp_path / "b", ("left", "right"))
    data = load_datasets([a, b], "spacejam")
    split = make_split(data, seed=1)
    path = save_split(split, tmp_path / "s.json", data)
    doc = json.loads(path.read_text())
    assert doc["roots"] == [str(a), str(b)] and doc["root"] == str(a)
    assert load_split(path, data) == split
    assert load_split(path, load_datasets([b, a], "spacejam")) == split  # ids name folders, not positions
    with pytest.raises(ConfigError, match="not in"):
        load_split(path, load_datasets([a], "spacejam"))


def test_folders_with_the_same_name_get_a_suffix(tmp_path):
    a = game_folder(tmp_path / "x" / "clips", ("left", "right"), players=2, clips=1)
    b = game_folder(tmp_path / "y" / "clips", ("left", "right"), players=2, clips=1)
    data = load_datasets([a, b], "spacejam")
    assert sorted(r.id for r in data.records) == [
        "clips-2/game-p001-f000000",
        "clips-2/game-p002-f000000",
        "clips/game-p001-f000000",
        "clips/game-p002-f000000",
    ]
    assert {r.group for r in data.records} == {
        "clips/game-p001",
        "clips/game-p002",
        "clips-2/game-p001",
        "clips-2/game-p002",
    }


def test_notes_name_their_folder(tmp_path):
    a = game_folder(tmp_path / "a", ("left", "right"), players=2, clips=1)
    b = game_folder(tmp_path / "b", ("left", "right"), players=2, clips=1)
    ann = json.loads((b / "annotation_dict.json").read_text())
    ann["game-p002-f000000"] = None
    (b / "annotation_dict.json").write_text(json.dumps(ann))
    data = load_datasets([a, b], "spacejam")
    assert f"b: 1 clips are not labelled yet (label them with `hoopsense label {b}`)" in data.skipped
    assert len(data.records) == 3


def test_bad_folder_lists_are_one_clear_error(tmp_path):
    a = game_folder(tmp_path / "a", ("left", "right"), players=2, clips=1)
    with pytest.raises(ConfigError, match="dataset folder not found: .*nowhere"):
        load_datasets([a, tmp_path / "nowhere"], "spacejam")
    with pytest.raises(ConfigError, match="given twice"):
        load_datasets([a, tmp_path / "." / "a"], "spacejam")
    empty = game_folder(tmp_path / "b", ("left",), players=1, clips=2)
    (empty / "annotation_dict.json").write_text(json.dumps(dict.fromkeys(("game-p001-f000000", "game-p001-f000016"))))
    with pytest.raises(ConfigError, match=r"no usable clips in .*b .*nothing is labelled yet"):
        load_datasets([a, empty], "spacejam")

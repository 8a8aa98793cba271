"""Atomic writes, output sets and the guard that keeps every input safe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hoopsense.errors import OutputError
from hoopsense.outputs import OutputSet, atomic_save, atomic_write, atomic_write_text, protect_inputs


def test_atomic_write_replaces_only_when_complete(tmp_path):
    target = tmp_path / "doc.json"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]


def test_crash_between_write_and_rename_keeps_the_old_file(tmp_path):
    target = tmp_path / "doc.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="crash"), atomic_write(target) as fh:
        fh.write("half of the new")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]  # no temporary file left


def test_crash_in_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "state.pt"
    target.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OutputError, match="cannot write .*No space left"):
        atomic_save(target, lambda tmp: Path(tmp).write_bytes(b"new"))
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_output_set_creates_missing_folders_and_removes_them_on_failure(tmp_path):
    outputs = OutputSet(make_folders=True)
    tmp = outputs.reserve(tmp_path / "a" / "b" / "game.mp4")
    assert tmp.parent == tmp_path / "a" / "b" and tmp.exists()
    outputs.discard()
    assert not (tmp_path / "a").exists()
    with pytest.raises(OutputError, match="does not exist"):
        OutputSet().reserve(tmp_path / "missing" / "x.csv")


@pytest.mark.parametrize("how", ["same path", "spelt differently", "symlink to the input", "hard link to the input"])
def test_no_output_may_replace_an_input(tmp_path, how):
    video = tmp_path / "game.mp4"
    video.write_bytes(b"footage")
    out = {"same path": video, "spelt differently": tmp_path / "x" / ".." / "game.mp4"}.get(how)
    if how == "symlink to the input":
        out = tmp_path / "link.mp4"
        out.symlink_to(video)
    elif how == "hard link to the input":
        out = tmp_path / "hard.mp4"
        os.link(video, out)
    with pytest.raises(OutputError, match="it is the input"):
        protect_inputs([tmp_path / "other.csv", out], [video])
    assert video.read_bytes() == b"footage"


def test_distinct_files_pass_the_guard(tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    a.write_bytes(b"a")
    b.write_bytes(b"a")  # same content, different files
    protect_inputs([b, tmp_path / "new.mp4", None], [a, None])

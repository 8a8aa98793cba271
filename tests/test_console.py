"""Progress without a terminal: plain lines every 10% (or 30 s), on stdout."""

from __future__ import annotations

from hoopsense import console as console_module
from hoopsense.console import PlainProgress


def test_plain_progress_prints_about_every_tenth_and_every_30_s(capsys, monkeypatch):
    now = [0.0]
    progress = PlainProgress("analysing", "frames", clock=lambda: now[0])
    task = progress.add_task("run", total=1000, fps=0.0)
    for done in range(1, 1001):
        now[0] += 0.01
        progress.update(task, completed=done, fps=25.0)
    lines = capsys.readouterr().out.splitlines()
    assert 10 <= len(lines) <= 11
    assert lines[0].startswith("analysing: 100/1000 frames (10%) 25.0 fps")
    assert lines[-1].startswith("analysing: 1000/1000 frames (100%)")
    slow = PlainProgress("training", "steps", clock=lambda: now[0])
    task = slow.add_task("train", total=10_000, epoch=1, loss=1.0)
    for step in range(1, 40):
        now[0] += 1.0  # one step a second: the 30 s rule prints before 10% is reached
        slow.update(task, completed=step, loss=0.5)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [lines[0]] and lines[0].startswith("training: epoch 1 30/10000 steps (0%) loss 0.5000 30 s elapsed")


def test_commands_use_plain_lines_without_a_terminal(shapes_video, tmp_path, cli, capsys):
    assert not console_module.err_console.is_terminal  # captured by pytest, as in a log
    assert cli("analyze", shapes_video, "--out", tmp_path / "o.mp4", "--min-track-frames", "3") == 0
    captured = capsys.readouterr()
    assert "analysing: 40/40 frames (100%)" in captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert lines[0] == "note: no --recognizer given: tracking only (no actions, no timeline files)"
    # offline without re-ID weights: one more note, on one line however long
    assert len(lines) == 2 and lines[1].startswith("note: re-ID weights") and "--reid PATH" in lines[1]

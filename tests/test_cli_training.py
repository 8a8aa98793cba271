"""``hoopsense train`` / ``evaluate`` on tiny data: files, metadata, resume, freezing, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from motion import make_motion_dataset
from synth import make_video

from hoopsense.cli import main
from hoopsense.recognizer.model import build_model, read_checkpoint

TINY = [
    "--clip-len",
    "4",
    "--frame-step",
    "2",
    "--resize",
    "40",
    "--crop-size",
    "32",
    "--workers",
    "0",
    "--no-flip",
    "--batch-size",
    "4",
]


def run_cli(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_motion_dataset(tmp_path_factory.mktemp("tiny") / "data", per_class=5)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "model.pt"
    assert run_cli("train", data, "--out", out, "--epochs", "2", "--init", "none", *TINY) == 0
    return out


def test_train_writes_checkpoint_history_split_and_state(trained):
    meta, _ = read_checkpoint(trained)
    assert meta.labels == ("left", "right", "bounce", "still") and meta.clip_len == 4 and meta.frame_step == 2
    assert (meta.crop_size, meta.resize) == (32, 40)
    assert set(meta.metrics) >= {"val_macro_f1", "val_accuracy", "epoch"}
    assert meta.training["format"] == "spacejam" and meta.training["init"] == "random (none asked)"
    history = json.loads(Path(meta.training["history_file"]).read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    split = json.loads(Path(meta.training["split_file"]).read_text())
    assert len(split["train"]) + len(split["val"]) == 20 and split["val"]
    assert trained.with_name("model.state.pt").exists()


def test_resume_refuses_other_settings_or_a_missing_state(data, tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert run_cli("train", data, "--out", out, "--epochs", "1", "--init", "none", *TINY) == 0
    # the learning-rate schedule spans the planned epochs: resuming with another plan is refused
    assert run_cli("train", data, "--out", out, "--epochs", "2", "--init", "none", "--resume", *TINY) == 1
    assert "written for other settings" in capsys.readouterr().err
    (tmp_path / "m.state.pt").unlink()
    assert run_cli("train", data, "--out", out, "--epochs", "1", "--init", "none", "--resume", *TINY) == 1
    assert "no training state" in capsys.readouterr().err


def test_resume_after_interruption(data, tmp_path, monkeypatch, capsys):
    from hoopsense.training import loop

    out = tmp_path / "m.pt"
    real = loop.predict
    calls = {"n": 0}

    def ctrl_c_in_second_validation(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "predict", ctrl_c_in_second_validation)
    assert run_cli("train", data, "--out", out, "--epochs", "2", "--init", "none", *TINY) == 130
    err = capsys.readouterr().err
    assert "training stopped after epoch 1" in err and "--resume" in err and "Traceback" not in err
    monkeypatch.setattr(loop, "predict", real)
    first = json.loads((tmp_path / "m.history.json").read_text())
    assert [h["epoch"] for h in first] == [1]
    assert run_cli("train", data, "--out", out, "--epochs", "2", "--init", "none", "--resume", *TINY) == 0
    history = json.loads((tmp_path / "m.history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and history[0] == first[0]


def test_train_layers_freezes_the_rest(data, tmp_path):
    out = tmp_path / "f.pt"
    assert (
        run_cli("train", data, "--out", out, "--epochs", "1", "--init", "none", "--train-layers", "layer4,fc", *TINY)
        == 0
    )
    _, state = read_checkpoint(out)
    torch.manual_seed(0)  # the seed the training starts from
    fresh = build_model("r2plus1d_18", 4).state_dict()
    assert torch.equal(state["stem.0.weight"], fresh["stem.0.weight"])
    assert torch.equal(state["layer3.0.conv1.0.0.weight"], fresh["layer3.0.conv1.0.0.weight"])
    assert torch.equal(state["stem.1.running_mean"], fresh["stem.1.running_mean"])  # frozen BN keeps its statistics
    assert not torch.equal(state["layer4.0.conv1.0.0.weight"], fresh["layer4.0.conv1.0.0.weight"])
    assert not torch.equal(state["fc.weight"], fresh["fc.weight"])


def test_frame_baseline_trains(data, tmp_path):
    out = tmp_path / "e.pt"
    assert (
        run_cli(
            "train", data, "--out", out, "--epochs", "1", "--init", "none", "--arch", "frames-efficientnet_b0", *TINY
        )
        == 0
    )
    meta, _ = read_checkpoint(out)
    assert meta.architecture == "frames-efficientnet_b0" and meta.mean == (0.485, 0.456, 0.406)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--train-layers", "layer9"], "no layer 'layer9'; layers are stem, layer1, layer2, layer3, layer4, fc"),
        (["--init", "pretrained"], "HOOPSENSE_OFFLINE is set"),
        (["--init", "/nowhere/r2plus1d.pth"], "initial weights not found"),
        (["--epochs", "0"], "--epochs must be in"),
        (["--format", "folder"], "no usable clips"),
        (["--split", "/nowhere/split.json"], "split file not found"),
    ],
)
def test_train_errors_are_one_line(data, tmp_path, capsys, extra, message):
    code = run_cli("train", data, "--out", tmp_path / "x.pt", "--epochs", "1", *TINY, *extra)
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.pt").exists()


def test_init_auto_without_weights_warns_and_trains_from_scratch(data, tmp_path, capsys):
    assert run_cli("train", data, "--out", tmp_path / "a.pt", "--epochs", "1", *TINY) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err and "training from scratch" in captured.err
    assert "pretrained weights unavailable" in read_checkpoint(tmp_path / "a.pt")[0].training["init"]


def test_evaluate_writes_a_report_on_the_validation_split(trained, data, tmp_path, capsys):
    out = tmp_path / "report"
    assert run_cli("evaluate", trained, data, "--out", out, "--workers", "0") == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "confusion.csv",
        "confusion.png",
        "confusion_normalised.csv",
        "curves.png",
        "metrics.json",
        "per_class.csv",
        "report.md",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    meta, _ = read_checkpoint(trained)
    split = json.loads(Path(meta.training["split_file"]).read_text())
    assert metrics["subset"] == "val" and metrics["clips"] == len(split["val"])
    rows = [line.split(",") for line in (out / "confusion.csv").read_text().splitlines()[1:]]
    cm = [[int(v) for v in r[1:]] for r in rows]
    assert sum(map(sum, cm)) == len(split["val"])
    assert metrics["accuracy"] == pytest.approx(sum(cm[i][i] for i in range(4)) / len(split["val"]))
    assert "macro-F1" in (out / "report.md").read_text()
    assert "accuracy" in capsys.readouterr().out
    # the same report again would overwrite: refused
    assert run_cli("evaluate", trained, data, "--out", out) == 1
    assert "already exists" in capsys.readouterr().err
    assert run_cli("evaluate", trained, data, "--out", tmp_path / "r2", "--subset", "test") == 1
    assert "test subset" in capsys.readouterr().err and not (tmp_path / "r2").exists()


def test_evaluate_rejects_unknown_classes(trained, tmp_path, capsys):
    for cls in ("dunk", "left"):
        (tmp_path / "d" / cls).mkdir(parents=True)
        make_video(tmp_path / "d" / cls / "a.mp4", n_frames=4, width=32, height=32)
    assert run_cli("evaluate", trained, tmp_path / "d", "--format", "folder", "--out", tmp_path / "r") == 1
    assert "classes the checkpoint does not know: dunk" in capsys.readouterr().err


def test_bf16_mixed_precision_trains_on_cpu(data, tmp_path, capsys):
    out = tmp_path / "b.pt"
    assert run_cli("train", data, "--out", out, "--epochs", "1", "--init", "none", "--precision", "bf16", *TINY) == 0
    meta, state = read_checkpoint(out)
    assert meta.training["precision"] == "bf16" and state["fc.weight"].dtype == torch.float32  # weights stay fp32
    assert (
        run_cli(
            "train", data, "--out", tmp_path / "c.pt", "--epochs", "1", "--precision", "fp16", "--device", "cpu", *TINY
        )
        == 1
    )
    assert "fp16 needs a CUDA device" in capsys.readouterr().err


def test_train_and_evaluate_on_two_folders(tmp_path, capsys):
    """Two games with different classes: one checkpoint knows the union; evaluate reads both folders."""
    a = make_motion_dataset(tmp_path / "game1", per_class=2)
    b = make_motion_dataset(tmp_path / "game2", per_class=2, seed=1)
    (b / "labels_dict.json").write_text(json.dumps({"0": "left", "1": "right", "2": "bounce", "3": "no_action"}))
    out = tmp_path / "m.pt"
    assert run_cli("train", a, b, "--out", out, "--epochs", "1", "--init", "none", *TINY) == 0
    assert "16 clips from 2 folders, 5 classes" in capsys.readouterr().out
    meta, _ = read_checkpoint(out)
    assert meta.labels == ("left", "right", "bounce", "still", "no_action")
    assert meta.background == "no_action"  # found among the merged labels
    assert meta.training["datasets"] == [str(a), str(b)] and meta.training["dataset"] == str(a)
    split_file = Path(meta.training["split_file"])
    split = json.loads(split_file.read_text())
    assert split["roots"] == [str(a), str(b)]
    ids = split["train"] + split["val"]
    assert len(ids) == 16 and {i.split("/")[0] for i in ids} == {"game1", "game2"}

    report = tmp_path / "report"
    assert run_cli("evaluate", out, a, b, "--out", report, "--workers", "0") == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["subset"] == "val" and metrics["clips"] == len(split["val"])
    assert metrics["datasets"] == [str(a), str(b)]
    assert f"`{a}`, `{b}`" in (report / "report.md").read_text()
    again = tmp_path / "train-report"
    assert (
        run_cli("evaluate", out, b, a, "--out", again, "--split", split_file, "--subset", "train", "--workers", "0")
        == 0
    )
    assert json.loads((again / "metrics.json").read_text())["clips"] == len(split["train"])


def hoopsense(*args: object) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, in its own process (the real pose model runs there)."""
    return subprocess.run([sys.executable, "-m", "hoopsense", *map(str, args)], capture_output=True, text=True)


def test_skeleton_trains_inspects_and_evaluates_with_a_real_pose_model(data, trained, tmp_path):
    from conftest import ASSETS, need_asset

    pose = need_asset(ASSETS / "pose" / "yolov8n-pose_int8_openvino_model")
    copy = tmp_path / "data"
    shutil.copytree(data, copy)  # keypoints are cached beside the clips
    out = tmp_path / "s.pt"
    run = hoopsense("train", copy, "--out", out, "--epochs", "2", "--arch", "skeleton-tcn", "--pose", pose, *TINY)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "keypoints in 20 clips from" in run.stdout and "warning" not in run.stderr  # no pretrained: no warning
    meta, _ = read_checkpoint(out)
    assert meta.architecture == "skeleton-tcn" and meta.training["pose"] == str(pose.resolve())
    assert meta.training["init"] == "random (no pretrained weights exist)"
    assert len(list((copy / ".keypoints").glob("*/*.npz"))) == 20  # one cache file per clip
    run = hoopsense("inspect", out)
    assert run.returncode == 0 and "hip-centred" in run.stdout
    run = hoopsense("evaluate", out, copy, "--out", tmp_path / "ev", "--subset", "val")
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["subset"] == "val" and metrics["clips"] == meta.training["clips_val"]
    # fused with a pixel checkpoint of the same classes: each reads its own input, the probabilities averaged
    fused = tmp_path / "fused"
    run = hoopsense("evaluate", out, copy, "--out", fused, "--subset", "val", "--fuse", trained)
    assert run.returncode == 0, run.stderr[-2000:]
    doc = json.loads((fused / "metrics.json").read_text())
    assert doc["fused_with"] == str(trained) and doc["clips"] == metrics["clips"]
    assert "averaged with" in (fused / "report.md").read_text()
    # a pose model that is not one is one clear line
    bad = tmp_path / "bad.pt"
    run = hoopsense("train", copy, "--out", bad, "--epochs", "1", "--arch", "skeleton-tcn", "--pose", out, *TINY)
    assert run.returncode == 1 and "Traceback" not in run.stderr and not bad.exists()


def test_skeleton_with_the_ball_trains_inspects_and_evaluates_with_a_real_detector(data, tmp_path):
    from conftest import ASSETS, need_asset

    pose = need_asset(ASSETS / "pose" / "yolov8n-pose_int8_openvino_model")
    detector = need_asset(ASSETS / "detector" / "yolov8n_int8_openvino_model")
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    out = tmp_path / "b.pt"
    argv = ["--epochs", "2", "--arch", "skeleton-ball-tcn", "--pose", pose, *TINY]
    run = hoopsense("train", copy, "--out", out, "--ball", detector, *argv)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "keypoints in 20 clips from" in run.stdout and "the ball in 20 clips from" in run.stdout
    meta, _ = read_checkpoint(out)
    assert meta.architecture == "skeleton-ball-tcn" and meta.training["ball"] == str(detector.resolve())
    caches = {p.parent.name for p in (copy / ".keypoints").glob("*/*.npz")}
    assert len(caches) == 2 and any(c.startswith("yolov8n_int8-") for c in caches)  # the ball's own cache
    assert len(list((copy / ".keypoints").glob("*/*.npz"))) == 40
    run = hoopsense("inspect", out)
    assert run.returncode == 0 and "near the player, from detector" in run.stdout
    run = hoopsense("evaluate", out, copy, "--out", tmp_path / "ev", "--subset", "val")
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["clips"] == meta.training["clips_val"]
    # a detector with no ball class is one clear line, and nothing is written
    bad = tmp_path / "bad.pt"
    run = hoopsense("train", copy, "--out", bad, "--ball", pose, *argv)
    assert run.returncode == 1 and "no ball class" in run.stderr and "Traceback" not in run.stderr
    assert not bad.exists()

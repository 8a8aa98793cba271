"""Checkpoints: round trip, safe loading, and clear rejection of bad files."""

from __future__ import annotations

import pytest
import torch
from recognizers import make_checkpoint

from hoopsense.errors import WeightsError
from hoopsense.recognizer.model import (
    FORMAT,
    build_model,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)


def test_round_trip_keeps_metadata_and_weights(tmp_path):
    path = make_checkpoint(tmp_path / "m.pt", metrics={"val_macro_f1": 0.75}, training={"dataset": "spacejam"})
    meta, state = read_checkpoint(path)
    assert meta.architecture == "r2plus1d_18" and meta.labels == ("dribble", "shoot", "no_action")
    assert meta.background == "no_action" and meta.background_index == 2
    assert (meta.clip_len, meta.crop_size, meta.resize) == (4, 32, 40)
    assert meta.metrics == {"val_macro_f1": 0.75} and meta.training == {"dataset": "spacejam"}
    model, meta2 = load_checkpoint(path)
    assert meta2 == meta and not model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name])
    again = save_checkpoint(tmp_path / "copy.pt", model, meta)
    assert read_checkpoint(again)[0] == meta


def _payload(path):
    return torch.load(path, weights_only=True)


def test_wrong_class_count_is_rejected(tmp_path):
    doc = _payload(make_checkpoint(tmp_path / "m.pt"))
    doc["metadata"]["labels"] = ["a", "b"]
    doc["metadata"]["background"] = None
    torch.save(doc, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="classifier has 3 outputs but the metadata lists 2 labels"):
        read_checkpoint(tmp_path / "bad.pt")


def test_checkpoint_for_another_architecture_is_rejected(tmp_path):
    doc = _payload(make_checkpoint(tmp_path / "m.pt", architecture="mc3_18"))
    doc["metadata"]["architecture"] = "r2plus1d_18"
    torch.save(doc, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="do not fit architecture r2plus1d_18"):
        load_checkpoint(tmp_path / "bad.pt")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["metadata"].pop("labels"), "inconsistent metadata: metadata lacks labels"),
        (lambda d: d["metadata"].update(background="timeout"), "background class 'timeout' is not one of the labels"),
        (lambda d: d["metadata"].update(architecture="resnet9000"), "unknown architecture 'resnet9000'"),
        (lambda d: d["metadata"].update(crop_size=200), "crop_size <= resize"),
        (lambda d: d.update(format_version=99), "newer hoopsense"),
        (lambda d: d.pop("metadata"), "not a hoopsense recognizer checkpoint"),
        (lambda d: d["state_dict"].pop("fc.weight"), "no classifier weights"),
    ],
)
def test_missing_or_inconsistent_metadata_is_rejected(tmp_path, change, message):
    doc = _payload(make_checkpoint(tmp_path / "m.pt"))
    change(doc)
    torch.save(doc, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match=message):
        read_checkpoint(tmp_path / "bad.pt")


def test_unreadable_files_are_rejected_without_running_pickled_code(tmp_path):
    good = make_checkpoint(tmp_path / "m.pt")
    (tmp_path / "trunc.pt").write_bytes(good.read_bytes()[:200_000])
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        read_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match="empty"):
        read_checkpoint(tmp_path / "empty.pt")
    with pytest.raises(WeightsError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt")
    torch.save({"format": FORMAT, "metadata": {}, "obj": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match=r"pickled Python objects \(io\.open\)"):
        read_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()


class _Evil:
    def __reduce__(self):
        return (open, ("pwned", "w"))


def test_plain_torchvision_weights_initialise_the_backbone(tmp_path):
    torch.manual_seed(1)
    kinetics = build_model("mc3_18", 400)  # same shape as torchvision's Kinetics-400 file
    torch.save(kinetics.state_dict(), tmp_path / "mc3_18-a90a0ba3.pth")
    model = build_model("mc3_18", 5, init=tmp_path / "mc3_18-a90a0ba3.pth")
    assert model.fc.out_features == 5
    assert torch.equal(model.layer4[0].conv1[0].weight, kinetics.layer4[0].conv1[0].weight)
    with pytest.raises(WeightsError, match="do not fit architecture r3d_18"):
        build_model("r3d_18", 5, init=tmp_path / "mc3_18-a90a0ba3.pth")


def test_kinetics_download_offline_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match=r"r2plus1d_18-91a641e6\.pth.*pass the file's path"):
        build_model("r2plus1d_18", 3, init="pretrained")

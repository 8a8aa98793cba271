"""Training stops at the first non-finite loss, keeps the last good checkpoint and says what to try."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from motion import make_motion_dataset

from hoopsense.cli import main
from hoopsense.recognizer.model import build_model, read_checkpoint
from hoopsense.training import loop
from hoopsense.training.bf16_guard import fp32_short_input_convs
from hoopsense.training.formats import load_dataset
from hoopsense.training.loop import TrainConfig, TrainingDiverged, train

TINY = dict(clip_len=4, frame_step=2, resize=40, crop_size=32, workers=0, batch_size=4, init="none")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_motion_dataset(tmp_path_factory.mktemp("nan") / "data", per_class=5)


def test_nan_weights_stop_at_the_first_step_with_one_line(data, tmp_path, capsys):
    state = build_model("r2plus1d_18", 400).state_dict()  # initial weights are Kinetics-shaped
    state["stem.0.weight"].view(-1)[0] = float("nan")  # every activation becomes NaN, and so does the loss
    init = tmp_path / "nan.pth"
    torch.save(state, init)
    out = tmp_path / "m.pt"
    code = main(
        [
            "train",
            str(data),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--init",
            str(init),
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
            "--batch-size",
            "4",
        ]
    )
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 1
    assert err == [
        "error: training stopped: the loss became nan at epoch 1, step 1; no checkpoint was written; "
        "try a lower --lr or --grad-clip 10"
    ]
    assert not out.exists() and not out.with_name("m.state.pt").exists()


class _NanAfter(torch.nn.CrossEntropyLoss):
    """A loss that turns NaN from its ``limit``-th training call on (validation uses its own criterion)."""

    calls = 0
    limit = 10**9

    def forward(self, logits, target):
        type(self).calls += 1
        loss = super().forward(logits, target)
        return loss * float("nan") if type(self).calls >= self.limit else loss


def test_divergence_in_a_later_epoch_keeps_the_last_good_checkpoint(data, tmp_path, monkeypatch):
    clips = load_dataset(data, "spacejam")
    monkeypatch.setattr(_NanAfter, "limit", 6)  # epoch 1 has at most 5 steps of 4 clips
    monkeypatch.setattr(_NanAfter, "calls", 0)
    monkeypatch.setattr(loop.nn, "CrossEntropyLoss", _NanAfter)
    out = tmp_path / "m.pt"
    with pytest.raises(
        TrainingDiverged,
        match=r"the loss became nan at epoch 2, step \d+; .*m.pt keeps epoch 1, the best so far; try a lower --lr",
    ):
        train(clips, TrainConfig(epochs=3, **TINY), out)
    meta, state = read_checkpoint(out)
    assert meta.metrics["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    history = json.loads(out.with_name("m.history.json").read_text())
    assert [h["epoch"] for h in history] == [1]


def test_best_epoch_is_never_chosen_from_non_finite_metrics(data, tmp_path, monkeypatch):
    clips = load_dataset(data, "spacejam")
    real = loop.predict

    def nan_validation(*args, **kwargs):
        pred, true, _ = real(*args, **kwargs)
        return pred, true, float("inf")

    monkeypatch.setattr(loop, "predict", nan_validation)
    with pytest.raises(TrainingDiverged, match="validation loss became inf at epoch 1"):
        train(clips, TrainConfig(epochs=2, **TINY), tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_bf16_guard_gives_finite_fp32_like_weight_gradients():
    """A 3-tap temporal convolution on a 2-frame input: the shape whose bf16 weight gradient
    oneDNN gets wrong on AVX512-BF16 CPUs; with the guard it runs in fp32 and matches."""
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(16, 16, kernel_size=(3, 1, 1), padding=(1, 0, 0), bias=False)
    x = torch.randn(4, 16, 2, 7, 7)
    conv(x).square().mean().backward()
    reference = conv.weight.grad.clone()
    conv.weight.grad = None
    fp32_short_input_convs(conv)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv(x)
    assert out.dtype == torch.float32  # ran in fp32 although autocast asked for bf16
    out.square().mean().backward()
    assert torch.isfinite(conv.weight.grad).all()
    assert torch.allclose(conv.weight.grad, reference, rtol=1e-4, atol=1e-6)
    wide = torch.randn(4, 16, 4, 7, 7)  # longer than the kernel: left in bf16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(wide).dtype == torch.bfloat16


def test_bf16_guard_probes_other_shapes_once_and_keeps_their_gradients_right(monkeypatch):
    """R(2+1)D-18's layer2 spatial convolution (128 -> 230 channels, 1x3x3) on a 4x28x28 input (8-frame
    112x112 clips): oneDNN's bf16 weight gradient is NaN on AVX512-BF16 CPUs without AMX; the guard's
    probe finds it and runs that shape in fp32. Wherever bf16 is right, the probe keeps bf16."""
    from hoopsense.training import bf16_guard

    torch.manual_seed(0)
    conv = torch.nn.Conv3d(128, 230, (1, 3, 3), padding=(0, 1, 1), bias=False).to(memory_format=torch.channels_last_3d)
    x = torch.randn(4, 128, 4, 28, 28).contiguous(memory_format=torch.channels_last_3d)
    conv(x).square().mean().backward()
    reference = conv.weight.grad.clone()
    conv.weight.grad = None
    probes = []
    real = bf16_guard._probe
    monkeypatch.setattr(bf16_guard, "_probe", lambda *a: probes.append(a[1]) or real(*a))
    fp32_short_input_convs(conv)
    for _ in range(2):
        conv.weight.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = conv(x)
        out.float().square().mean().backward()
        assert torch.isfinite(conv.weight.grad).all()
        assert (conv.weight.grad - reference).abs().max() <= 0.05 * reference.abs().max()
    assert probes == [x.shape]  # once per input shape
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        conv(torch.randn(2, 128, 4, 14, 14))  # no gradients: nothing to probe
    assert len(probes) == 1

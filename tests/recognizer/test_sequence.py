"""The per-frame CNN + GRU recognizer: shapes, frame order, checkpoints, ImageNet weights, freezing, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from motion import make_motion_dataset

from hoopsense.cli import main
from hoopsense.errors import ConfigError, WeightsError
from hoopsense.recognizer.model import (
    ARCHITECTURES,
    CheckpointMeta,
    build_model,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig
from hoopsense.recognizer.sequence import FrameSequenceNet
from hoopsense.training.model_setup import freeze, frozen_batchnorm_eval

ARCH = "frames-mobilenet_v3_small-gru"


def _model(classes: int = 5, seed: int = 0) -> FrameSequenceNet:
    torch.manual_seed(seed)
    return build_model(ARCH, classes).eval()


def _clips(b: int, t: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 3, t, size, size, generator=torch.Generator().manual_seed(seed))


def _calibrated(model: FrameSequenceNet, x: torch.Tensor) -> FrameSequenceNet:
    """``model`` in eval mode with its batch-norm statistics measured on ``x``: with the initial ones (mean 0,
    variance 1) a random MobileNetV3 shrinks every input to ~1e-9, so its output would not depend on the input."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: one pass sets the statistics of x
    with torch.no_grad():
        model.train()(x)
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def test_registered_with_imagenet_preprocessing():
    arch = ARCHITECTURES[ARCH]
    assert arch.kind == "sequence" and arch.pretrained_on == "ImageNet-1k"
    assert arch.mean == (0.485, 0.456, 0.406) and arch.std == (0.229, 0.224, 0.225)
    assert "mobilenet_v3_small" in arch.pretrained_weights().url
    assert isinstance(arch.build(), FrameSequenceNet)


@pytest.mark.parametrize(("t", "size"), [(8, 32), (16, 64)])
def test_output_shape(t, size):
    model = _model(5)
    with torch.inference_mode():
        out = model(_clips(2, t, size))
    assert out.shape == (2, 5) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert model.fc.out_features == 5


def test_frame_order_changes_the_output():
    x = _clips(2, 8)
    model = _calibrated(_model(4), x)
    order = torch.tensor([3, 0, 7, 1, 5, 2, 6, 4])
    with torch.inference_mode():
        forward, permuted, backward = model(x), model(x[:, :, order]), model(x.flip(2))
    assert not torch.allclose(forward[0], forward[1], rtol=1e-3, atol=1e-5)  # the input matters at all
    for other in (permuted, backward):  # same frames in another order (reversed: left and right swap)
        assert (forward - other).abs().amax(dim=1).min() > 1e-3 * forward.abs().amax()


def test_bf16_autocast_runs():
    model = _model(3)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(_clips(2, 8))
    assert out.shape == (2, 3) and torch.isfinite(out.float()).all()


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    model = _calibrated(_model(3, seed=4), _clips(2, 8, seed=2))
    meta = CheckpointMeta(ARCH, ("a", "b", "c"), clip_len=8, crop_size=32, resize=40, mean=ARCHITECTURES[ARCH].mean)
    path = save_checkpoint(tmp_path / "seq.pt", model, meta)
    loaded, meta2 = load_checkpoint(path)
    assert meta2 == meta and not loaded.training and isinstance(loaded, FrameSequenceNet)
    _, state = read_checkpoint(path)
    assert state.keys() == model.state_dict().keys()
    assert any(k.startswith("temporal.") for k in state) and state["fc.weight"].shape == (3, 192)
    x = _clips(2, 8, seed=1)
    with torch.inference_mode():
        out = model(x)
        assert torch.equal(out, loaded(x)) and not torch.allclose(out[0], out[1], rtol=1e-3, atol=1e-5)


def test_torchvision_mobilenet_state_initialises_the_backbone(tmp_path):
    from torchvision.models import mobilenet_v3_small

    torch.manual_seed(1)
    imagenet = mobilenet_v3_small(weights=None).state_dict()
    assert any(k.startswith("classifier.") for k in imagenet)
    torch.save(imagenet, tmp_path / "mobilenet_v3_small-047dcff4.pth")
    model = build_model(ARCH, 6, init=tmp_path / "mobilenet_v3_small-047dcff4.pth")
    assert model.fc.out_features == 6
    backbone = model.features.state_dict()
    for key, value in imagenet.items():
        if key.startswith("features."):
            assert torch.equal(backbone[key.removeprefix("features.")], value), key
    assert len(backbone) == sum(k.startswith("features.") for k in imagenet)


def test_foreign_weights_are_rejected(tmp_path):
    torch.save(build_model("mc3_18", 400).state_dict(), tmp_path / "mc3.pth")
    with pytest.raises(WeightsError, match=f"do not fit architecture {ARCH}"):
        build_model(ARCH, 3, init=tmp_path / "mc3.pth")
    partial = {k: v for k, v in _model(1000).state_dict().items() if not k.startswith("features.12.")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match=r"missing key\(s\): features\.12\.0\.weight"):
        build_model(ARCH, 3, init=tmp_path / "partial.pth")


def test_imagenet_download_offline_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HOOPSENSE_OFFLINE", "1")
    with pytest.raises(WeightsError, match=r"mobilenet_v3_small-047dcff4\.pth.*pass the file's path"):
        build_model(ARCH, 3, init="pretrained")


def test_train_layers_freeze_the_backbone():
    model = _model(4).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = freeze(model, ("features.12", "temporal", "fc"))
    frozen_batchnorm_eval(model)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all(n.split(".")[0] in ("temporal", "fc") or n.startswith("features.12.") for n in names)
    assert {id(p) for p in trainable} == {id(p) for n, p in model.named_parameters() if n in names}
    assert not model.features[0][1].training and model.features[12][1].training
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    torch.nn.functional.cross_entropy(model(_clips(2, 4)), torch.tensor([0, 3])).backward()
    optimizer.step()
    after = model.state_dict()
    assert torch.equal(after["features.0.0.weight"], before["features.0.0.weight"])
    assert torch.equal(after["features.0.1.running_mean"], before["features.0.1.running_mean"])
    for key in ("features.12.0.weight", "temporal.weight_ih_l0", "fc.weight"):
        assert not torch.equal(after[key], before[key]), key
    with pytest.raises(ConfigError, match="no layer 'layer4'; layers are features, temporal, fc"):
        freeze(_model(4), ("layer4",))


def test_recognizer_runs_the_checkpoint(tmp_path):
    path = save_checkpoint(
        tmp_path / "seq.pt",
        _model(3),
        CheckpointMeta(ARCH, ("a", "b", "no_action"), clip_len=8, crop_size=32, resize=40),
    )
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (8, 40, 40, 3), dtype=np.uint8) for _ in range(3)]
    one = Recognizer(RecognizerConfig(str(path), device="cpu", batch_size=1, precision="fp32")).predict_clips(clips)
    many = Recognizer(RecognizerConfig(str(path), device="cpu", batch_size=3, precision="fp32")).predict_clips(clips)
    assert one.shape == (3, 3)
    np.testing.assert_allclose(one.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(one, many, rtol=1e-4, atol=1e-5)


def test_cli_trains_frozen_layers_and_inspects(tmp_path, capsys):
    data = make_motion_dataset(tmp_path / "data", per_class=5)
    out = tmp_path / "seq.pt"
    tiny = ["--clip-len", "4", "--frame-step", "2", "--resize", "40", "--crop-size", "32", "--workers", "0"]
    args = ["train", data, "--out", out, "--epochs", "1", "--init", "none", "--arch", ARCH, "--batch-size", "4"]
    assert main([str(a) for a in [*args, "--train-layers", "temporal,fc", *tiny]]) == 0
    meta, state = read_checkpoint(out)
    assert meta.architecture == ARCH and meta.mean == (0.485, 0.456, 0.406) and len(meta.labels) == 4
    torch.manual_seed(0)  # the seed the training starts from
    fresh = build_model(ARCH, 4).state_dict()
    assert torch.equal(state["features.3.block.0.0.weight"], fresh["features.3.block.0.0.weight"])
    assert torch.equal(state["features.0.1.running_var"], fresh["features.0.1.running_var"])  # frozen BN statistics
    assert not torch.equal(state["temporal.weight_hh_l0"], fresh["temporal.weight_hh_l0"])
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    assert ARCH in capsys.readouterr().out

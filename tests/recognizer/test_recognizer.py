"""Batched inference: preprocessing exactly as the checkpoint records it, batch-size invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recognizers import make_checkpoint

from hoopsense.devices import openvino_available
from hoopsense.errors import ConfigError
from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig
from hoopsense.recognizer.tubelets import Tubelet

MEAN, STD = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return make_checkpoint(path, mean=MEAN, std=STD, clip_len=4, crop_size=32, resize=40, context=1.5)


def clips(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (4, 40, 40, 3), dtype=np.uint8) for _ in range(n)]


def test_model_input_is_the_recorded_preprocessing(checkpoint):
    # the torch network, to see its input; OpenVINO gets the very same tensor (see predict_clips)
    rec = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", batch_size=4, precision="fp32", backend="torch"))
    seen = []
    rec.model.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    clip = np.zeros((4, 40, 40, 3), np.uint8)
    clip[..., 0], clip[..., 1], clip[..., 2] = 10, 128, 250  # R, G, B
    rec.predict_clips([clip])
    x = seen[0]
    assert x.shape == (1, 3, 4, 32, 32)  # centre crop of the recorded size
    for c, value in enumerate((10, 128, 250)):
        assert torch.allclose(x[0, c], torch.full_like(x[0, c], (value / 255 - MEAN[c]) / STD[c]), atol=1e-5)


def test_tubelet_geometry_and_padding_colour_come_from_the_checkpoint(checkpoint):
    rec = Recognizer(RecognizerConfig(str(checkpoint), device="cpu"))
    cfg = rec.tubelet_config()
    # the default stride is one clip span: every frame in exactly one clip
    step = rec.meta.frame_step
    assert (cfg.clip_len, cfg.stride, cfg.context, cfg.resize) == (4, 3 * step + 1, 1.5, 40)
    assert rec.tubelet_config(clip_len=8, stride=3).clip_len == 8
    assert rec.tubelet_config(clip_len=8).stride == cfg.span + 4 * step
    with pytest.raises(ConfigError, match="stride must be at most the clip span") as err:
        rec.tubelet_config(stride=cfg.span + 1)  # frames between clips would get no action
    assert err.value.field == "AnalyzeOptions.stride"
    assert rec.fill == (26, 128, 230)  # mean * 255 normalises to 0


def test_batches_give_the_same_probabilities_in_order(checkpoint):
    data = clips(5)
    one = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", batch_size=1, precision="fp32")).predict_clips(
        data
    )
    many = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", batch_size=4, precision="fp32")).predict_clips(
        data
    )
    assert one.shape == (5, 3) and one.dtype == np.float32
    np.testing.assert_allclose(one.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(one, many, rtol=1e-4, atol=1e-5)
    assert not np.allclose(one[0], one[1])  # different clips, different outputs


def test_predict_keeps_track_and_frames(checkpoint):
    rec = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", batch_size=2))
    tubes = [
        Tubelet(track_id=k, frame_indices=np.arange(10 * k, 10 * k + 4), crops=c, boxes=np.zeros((4, 4), np.float32))
        for k, c in enumerate(clips(3), start=1)
    ]
    preds = rec.predict(tubes)
    assert [(p.track_id, p.start_frame, p.end_frame) for p in preds] == [(1, 10, 13), (2, 20, 23), (3, 30, 33)]
    assert rec.clips == 3


def test_bf16_on_cpu_stays_close_to_fp32(checkpoint):
    data = clips(2, seed=1)
    fp32 = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", precision="fp32")).predict_clips(data)
    bf16 = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", precision="bf16")).predict_clips(data)
    assert np.abs(fp32 - bf16).max() < 0.05


def test_bad_settings_are_config_errors(checkpoint):
    with pytest.raises(ConfigError, match="^batch_size"):
        RecognizerConfig(str(checkpoint), batch_size=0)
    with pytest.raises(ConfigError, match="^precision must be one of auto, fp32, bf16, fp16"):
        RecognizerConfig(str(checkpoint), precision="int4")
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        Recognizer(RecognizerConfig(str(checkpoint), device="cpu", precision="fp16"))


@pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")
def test_openvino_gives_the_torch_network_s_probabilities(checkpoint):
    torch.manual_seed(0)
    batch = clips(6, seed=3)
    ref = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", precision="fp32", backend="torch"))
    ov32 = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", precision="fp32", batch_size=4))
    assert (ref.backend, ov32.backend) == ("torch", "openvino")  # auto: OpenVINO for a 3D network on the CPU
    p = ref.predict_clips(batch)
    assert np.allclose(ov32.predict_clips(batch), p, atol=1e-4)  # batches of 4 and 2: two compiled shapes
    ov16 = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", precision="bf16", backend="openvino"))
    assert np.abs(ov16.predict_clips(batch) - p).max() < 0.05
    with pytest.raises(ConfigError, match="backend must be one of auto, torch, openvino"):
        RecognizerConfig(str(checkpoint), backend="tensorrt")


@pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")
def test_openvino_conversion_is_cached_per_checkpoint(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("HOOPSENSE_HOME", str(tmp_path / "home"))
    batch = clips(3, seed=5)
    first = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", precision="fp32"))
    p = first.predict_clips(batch)
    cached = list((tmp_path / "home").rglob("model.xml"))
    assert len(cached) == 1 and cached[0].with_suffix(".bin").is_file()
    assert not [f for f in cached[0].parent.parent.iterdir() if f.name.startswith(".")]  # no temporary folder left
    converted = []
    import openvino as ov

    real = ov.convert_model
    monkeypatch.setattr(ov, "convert_model", lambda *a, **k: converted.append(1) or real(*a, **k))
    again = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", precision="fp32"))
    assert converted == [] and np.allclose(again.predict_clips(batch), p, atol=1e-6)  # read back, not converted
    cached[0].write_text("<not a model")  # a damaged entry is converted again, and the run goes on
    third = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", precision="fp32"))
    assert converted == [1] and np.allclose(third.predict_clips(batch), p, atol=1e-6)
    Recognizer(RecognizerConfig(str(checkpoint), device="cpu", precision="fp32"))
    assert converted == [1]  # the repaired entry is read back
    other = make_checkpoint(tmp_path / "other.pt", seed=1)  # another checkpoint gets its own entry
    Recognizer(RecognizerConfig(str(other), device="cpu", precision="fp32"))
    assert len(list((tmp_path / "home").rglob("model.xml"))) == 2

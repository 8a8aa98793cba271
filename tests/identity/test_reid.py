"""Appearance embedders: OSNet x0.25 in torch, OpenVINO and onnxruntime, colour histograms, and choosing one."""

from __future__ import annotations

import re
import shutil

import cv2
import numpy as np
import pytest
import torch
from conftest import ASSETS, FOOTAGE, need_asset

from hoopsense.errors import ConfigError, WeightsError
from hoopsense.identity.osnet import ConvBnRelu, LightConv3x3, osnet_x0_25
from hoopsense.identity.reid import ColourEmbedder, Embedder, OsnetEmbedder, load_embedder, pixel_boxes
from hoopsense.weights import cached_path, get_spec, sha256_of

REID = ASSETS / "reid"
ONNX = REID / "osnet_x0_25_msmt17.onnx"
PTH = REID / "osnet_x0_25_msmt17.pth"

# Five people in frames 30 and 35 of the NBA clip, boxes checked by eye: Golden State #30, the referee on the
# left, a Lakers player at the top, a Golden State player on the left, the referee on the right.
BOXES_30 = np.array(
    [[323, 224, 353, 321], [203, 295, 253, 414], [459, 173, 485, 244], [145, 197, 172, 281], [794, 210, 822, 298]],
    float,
)
BOXES_35 = np.array(
    [[329, 229, 357, 321], [223, 293, 269, 389], [460, 176, 486, 244], [156, 190, 215, 292], [794, 213, 819, 298]],
    float,
)
# Boxes that must not crash: past the border, fully outside, tiny, empty, reversed, not finite.
AWKWARD = np.array(
    [
        [-40, 400, 60, 520],
        [900, 500, 1000, 600],
        [-50, -50, -10, -10],
        [100, 100, 100.5, 100.2],
        [200, 200, 200, 200],
        [300, 300, 250, 250],
        [np.nan, 10, 50, np.inf],
    ]
)


@pytest.fixture(scope="module")
def frames() -> tuple[np.ndarray, np.ndarray]:
    """Frames 30 and 35 of the NBA broadcast clip, BGR uint8 (480, 854, 3)."""
    from hoopsense.video import read_frames

    clip = read_frames(need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4"), max_frames=36)
    return cv2.cvtColor(clip[30], cv2.COLOR_RGB2BGR), cv2.cvtColor(clip[35], cv2.COLOR_RGB2BGR)


def _unit_rows(x: np.ndarray, dim: int, n: int) -> None:
    assert x.shape == (n, dim) and x.dtype == np.float32
    assert np.isfinite(x).all()
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


# -- a minimal reader of ONNX files (protobuf), to run the shared ONNX network's weights in the torch module --------
def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview):
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield key >> 3, wire, value


def _read_onnx(path) -> tuple[list[tuple[str, list[str]]], dict[str, np.ndarray]]:
    """``(op_type, inputs)`` of each graph node in order, and the float32 initializers by name."""
    model = memoryview(path.read_bytes())
    graph = next(value for number, _, value in _fields(model) if number == 7)
    nodes, tensors = [], {}
    for number, _, value in _fields(graph):
        if number == 1:  # NodeProto: input = 1, op_type = 4
            fields = list(_fields(value))
            op = next(bytes(v).decode() for n, _, v in fields if n == 4)
            nodes.append((op, [bytes(v).decode() for n, _, v in fields if n == 1]))
        elif number == 5:  # TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9
            dims, name, raw, dtype = [], "", b"", 0
            for n, wire, v in _fields(value):
                if n == 1 and wire == 0:
                    dims.append(v)
                elif n == 1:
                    p = 0
                    while p < len(v):
                        d, p = _varint(v, p)
                        dims.append(d)
                elif n == 2:
                    dtype = v
                elif n == 8:
                    name = bytes(v).decode()
                elif n == 9:
                    raw = bytes(v)
            if dtype == 1:  # float32
                tensors[name] = np.frombuffer(raw, "<f4").reshape(dims).copy()
    return nodes, tensors


def _onnx_as_torchreid_state_dict(path) -> dict[str, torch.Tensor]:
    """The shared ONNX network's weights as a torchreid-format state dict.

    The exporter folded each batch norm into the convolution before it; those
    convolutions appear in the graph in the order the torch module registers its
    conv + batch-norm units, and take identity batch norms here (weight 1,
    running mean 0, running variance 1 - eps). All other tensors keep their names.
    """
    nodes, tensors = _read_onnx(path)
    folded = [inputs[1:3] for op, inputs in nodes if op == "Conv" and inputs[1].startswith("onnx::")]
    model = osnet_x0_25()
    units = [
        (f"{name}.conv" if isinstance(m, ConvBnRelu) else f"{name}.conv2", f"{name}.bn")
        for name, m in model.named_modules()
        if isinstance(m, (ConvBnRelu, LightConv3x3))
    ]
    assert len(units) == len(folded) == 79
    state = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("onnx::")}
    for (conv, bn), (weight, bias) in zip(units, folded):
        channels = tensors[weight].shape[0]
        state[f"{conv}.weight"] = torch.from_numpy(tensors[weight])
        state[f"{bn}.weight"] = torch.ones(channels)
        state[f"{bn}.bias"] = torch.from_numpy(tensors[bias])
        state[f"{bn}.running_mean"] = torch.zeros(channels)
        state[f"{bn}.running_var"] = torch.full((channels,), 1.0 - 1e-5)
        state[f"{bn}.num_batches_tracked"] = torch.tensor(0)
    state["classifier.weight"] = torch.zeros(7, 512)  # a classifier of another size is ignored
    state["classifier.bias"] = torch.zeros(7)
    return state


# -- OSNet -------------------------------------------------------------------------------------------------------
def test_torch_onnxruntime_and_openvino_give_the_same_embeddings(frames, tmp_path):
    """The torch module, loading a torchreid-format .pth strictly, reproduces onnxruntime on the same weights;
    OpenVINO (the CPU default for an .onnx file) runs the file's fixed batch of 1 in batches, in f32."""
    pth = tmp_path / "osnet_from_onnx.pth"
    torch.save(_onnx_as_torchreid_state_dict(need_asset(ONNX)), pth)
    by_torch, by_ort = OsnetEmbedder(pth, batch_size=4), OsnetEmbedder(ONNX, runtime="onnxruntime")
    by_ov = OsnetEmbedder(ONNX, batch_size=3)
    assert "torch" in by_torch.name and "onnxruntime" in by_ort.name and "openvino" in by_ov.name
    image = frames[0]
    boxes = np.vstack([BOXES_30, AWKWARD[:2]])  # more boxes than a batch: a full batch and a short one
    a, b, c = by_torch.embed(image, boxes), by_ort.embed(image, boxes), by_ov.embed(image, boxes)
    for rows in (a, b, c):
        _unit_rows(rows, 512, len(boxes))
    assert (a * b).sum(axis=1).min() > 0.999, (a * b).sum(axis=1)
    assert (b * c).sum(axis=1).min() > 0.9999, (b * c).sum(axis=1)
    with pytest.raises(ConfigError, match="runtime must be one of"):
        OsnetEmbedder(ONNX, runtime="tensorrt")


@pytest.mark.parametrize("weights", [ONNX, PTH], ids=["onnx", "pth"])
def test_same_person_five_frames_apart_is_closer_than_anyone_else(frames, weights):
    embedder = OsnetEmbedder(need_asset(weights))
    a, b = embedder.embed(frames[0], BOXES_30), embedder.embed(frames[1], BOXES_35)
    sim = a @ b.T
    for i in range(len(sim)):
        others = max(np.delete(sim[i], i).max(), np.delete(sim[:, i], i).max())
        assert sim[i, i] > others, (i, sim.round(2))


def test_shared_pth_loads_strictly_and_batches_do_not_change_results(frames):
    one, many = OsnetEmbedder(need_asset(PTH), batch_size=1), OsnetEmbedder(PTH, batch_size=32)
    assert isinstance(one, Embedder) and one.dim == 512
    a, b = one.embed(frames[0], BOXES_30), many.embed(frames[0], BOXES_30)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert (a >= 0).all()  # the embedding follows a ReLU


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_torch_on_cuda_matches_cpu(frames):
    cpu, cuda = OsnetEmbedder(need_asset(PTH)), OsnetEmbedder(PTH, device="cuda")
    assert "cuda" in cuda.name
    cosine = (cpu.embed(frames[0], BOXES_30) * cuda.embed(frames[0], BOXES_30)).sum(axis=1)
    assert cosine.min() > 0.999


def _embedders() -> list:
    out = [pytest.param(lambda: ColourEmbedder(), id="colour")]
    out.append(pytest.param(lambda: OsnetEmbedder(need_asset(ONNX)), id="onnx"))
    out.append(pytest.param(lambda: OsnetEmbedder(need_asset(PTH)), id="pth"))
    return out


@pytest.mark.parametrize("make", _embedders())
def test_awkward_boxes_give_unit_vectors_and_clipping_is_the_crop_inside(make):
    embedder = make()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    out = embedder.embed(image, AWKWARD)
    _unit_rows(out, embedder.dim, len(AWKWARD))
    past_border = np.array([[-40, 60, 60, 150], [10, 20, 50, 90]], float)
    inside = embedder.embed(image, np.array([[0, 60, 60, 120], [10, 20, 50, 90]], float))
    np.testing.assert_allclose(embedder.embed(image, past_border), inside, atol=1e-6)
    for empty in (np.zeros((0, 4)), np.zeros((0,)), []):
        assert embedder.embed(image, empty).shape == (0, embedder.dim)
    flipped = image[:, ::-1]  # a view with a negative stride
    np.testing.assert_allclose(
        embedder.embed(flipped, past_border), embedder.embed(flipped.copy(), past_border), atol=1e-6
    )


@pytest.mark.parametrize(
    ("image", "boxes", "message"),
    [
        (np.zeros((10, 10, 3), np.float32), np.zeros((1, 4)), "uint8"),
        (np.zeros((10, 10), np.uint8), np.zeros((1, 4)), r"\(H, W, 3\)"),
        (np.zeros((0, 10, 3), np.uint8), np.zeros((1, 4)), "empty"),
        (np.zeros((10, 10, 3), np.uint8), np.zeros((2, 3)), r"\(N, 4\)"),
        (np.zeros((10, 10, 3), np.uint8), [["a", "b", "c", "d"]], r"\(N, 4\)"),
    ],
)
def test_bad_arrays_are_config_errors(image, boxes, message):
    with pytest.raises(ConfigError, match=message):
        ColourEmbedder().embed(image, boxes)


def test_pixel_boxes_are_inside_and_at_least_one_pixel():
    px = pixel_boxes(AWKWARD, 160, 120)
    assert (px[:, 0] >= 0).all() and (px[:, 1] >= 0).all() and (px[:, 2] <= 160).all() and (px[:, 3] <= 120).all()
    assert ((px[:, 2] - px[:, 0]) >= 1).all() and ((px[:, 3] - px[:, 1]) >= 1).all()
    assert px[0].tolist() == [0, 119, 60, 120]  # past the bottom-left corner: the strip inside


# -- colour histograms -----------------------------------------------------------------------------------------------
def _kit(top_bgr, bottom_bgr, seed: int) -> np.ndarray:
    """A 100x50 BGR 'player' on a court-brown background: shirt over the upper half, shorts over the lower."""
    rng = np.random.default_rng(seed)
    img = np.full((100, 50, 3), (60, 110, 170), np.uint8)
    img[10:50, 10:40] = top_bgr
    img[50:90, 10:40] = bottom_bgr
    noise = rng.integers(-12, 13, img.shape)
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)


def test_colour_histograms_tell_kits_apart_by_upper_and_lower_body():
    red, blue, white = (30, 30, 200), (200, 60, 30), (235, 235, 235)
    image = np.hstack([_kit(red, blue, 0), _kit(red, blue, 1), _kit(blue, red, 2), _kit(white, white, 3)])
    boxes = np.array([[50 * i, 0, 50 * i + 50, 100] for i in range(4)], float)
    embedder = ColourEmbedder()
    out = embedder.embed(image, boxes)
    _unit_rows(out, embedder.dim, 4)
    sim = out @ out.T
    assert sim[0, 1] > 0.9  # the same kit
    assert sim[0, 2] < 0.5 * sim[0, 1]  # the same colours, swapped between shirt and shorts
    assert sim[0, 3] < 0.5 * sim[0, 1]


def test_colour_histograms_on_real_crops_are_closest_for_the_same_kit(frames):
    out = ColourEmbedder().embed(frames[0], BOXES_30)
    sim = out @ out.T
    # Golden State #30 and the other Golden State player share a kit; the referees wear the same shirt
    assert sim[0, 3] > max(sim[0, 1], sim[0, 2], sim[0, 4])
    assert sim[1, 4] > max(sim[1, 0], sim[1, 2], sim[1, 3])


# -- choosing an embedder ----------------------------------------------------------------------------------------------
def test_default_weights_offline_without_cache_fall_back_to_colour_with_a_note(monkeypatch):
    monkeypatch.setenv("HOOPSENSE_OFFLINE", "1")
    embedder, note = load_embedder(None)
    assert isinstance(embedder, ColourEmbedder) and embedder.name.startswith("colour histograms")
    assert note is not None and "\n" not in note
    assert "re-ID weights" in note and "unavailable" in note and "colour histograms" in note
    assert "less reliable" in note and "--reid PATH" in note


def test_corrupt_cached_default_is_discarded_and_falls_back(monkeypatch):
    monkeypatch.setenv("HOOPSENSE_OFFLINE", "1")
    target = cached_path(get_spec("osnet_x0_25_msmt17"))
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the weights")
    embedder, note = load_embedder(None)
    assert isinstance(embedder, ColourEmbedder) and note and not target.exists()


def test_default_weights_from_the_cache_are_osnet_in_openvino(frames, monkeypatch):
    monkeypatch.setenv("HOOPSENSE_OFFLINE", "1")
    spec = get_spec("osnet_x0_25_msmt17")
    target = cached_path(spec)
    target.parent.mkdir(parents=True)
    shutil.copyfile(need_asset(REID / spec.filename), target)
    embedder, note = load_embedder(None)
    assert note is None and isinstance(embedder, OsnetEmbedder) and "openvino" in embedder.name
    _unit_rows(embedder.embed(frames[0], BOXES_30), 512, len(BOXES_30))


def test_colour_on_request_has_no_note():
    embedder, note = load_embedder("colour")
    assert isinstance(embedder, ColourEmbedder) and note is None


def _one_line_error(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text and text
    return text


def test_explicit_missing_file_is_a_weights_error(tmp_path):
    with pytest.raises(WeightsError) as err:
        load_embedder(tmp_path / "osnet.onnx")
    assert "re-ID weights not found" in _one_line_error(err)


@pytest.mark.parametrize("name", ["bad.onnx", "bad.pth", "bad.pt", "weights.bin"])
def test_corrupt_or_unknown_files_are_weights_errors(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x00garbage, not a network" * 50)
    with pytest.raises(WeightsError) as err:
        load_embedder(path)
    assert str(path) in _one_line_error(err)


def test_a_state_dict_of_another_network_is_a_weights_error(tmp_path):
    path = tmp_path / "other.pth"
    state = osnet_x0_25().state_dict()
    state["conv5.conv.weight"] = torch.zeros(64, 128, 1, 1)
    del state["fc.0.bias"]
    torch.save(state, path)
    with pytest.raises(WeightsError) as err:
        load_embedder(path)
    text = _one_line_error(err)
    assert "not an OSNet x0.25 state dict" in text and "fc.0.bias" in text and "conv5.conv.weight" in text


def test_an_onnx_network_of_another_shape_is_a_weights_error(tmp_path):
    path = tmp_path / "detector.onnx"
    shutil.copyfile(need_asset(ASSETS / "detector" / "yolov8n_int8.onnx"), path)
    with pytest.raises(WeightsError, match="not OSNet x0.25"):
        load_embedder(path)


def test_a_file_that_is_not_onnx_is_one_line_weights_error(tmp_path):
    path = tmp_path / "osnet.onnx"
    path.write_bytes(b"not a network")
    for runtime in ("openvino", "onnxruntime"):
        with pytest.raises(WeightsError) as err:
            OsnetEmbedder(path, runtime=runtime)
        assert "cannot load re-ID weights" in _one_line_error(err)


def test_bad_device_and_batch_size_are_config_errors():
    with pytest.raises(ConfigError, match="device"):
        load_embedder("colour", device="gpu0")
    with pytest.raises(ConfigError, match="batch_size"):
        OsnetEmbedder("unused.onnx", batch_size=0)


def test_spec_names_the_shared_file_and_its_public_location():
    spec = get_spec("osnet_x0_25_msmt17")
    assert spec is not None and spec.task == "reid"
    assert spec.sha256 == sha256_of(need_asset(REID / spec.filename))
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+/raw/[0-9a-f]{40}/[\w./-]+", spec.url)
    assert spec.url.endswith("/" + spec.filename)

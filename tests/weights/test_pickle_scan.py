"""check_torch_pickle: real Ultralytics and torch checkpoints pass, code-running pickles are refused unread."""

from __future__ import annotations

import builtins
import os
import pickle
import struct
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict
from copy import deepcopy
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ASSETS, need_asset

from hoopsense.errors import WeightsError
from hoopsense.weights import check_torch_pickle

# --------------------------------------------------------------------------------------------------------------------
# Legitimate checkpoints, built once per module from Ultralytics' packaged yaml files (no download)
# --------------------------------------------------------------------------------------------------------------------


def _training_checkpoint(model, path: Path) -> None:
    """What ``BaseTrainer.save_model`` writes (last.pt), with the model's training args and criterion."""
    from datetime import datetime

    from ultralytics import __version__
    from ultralytics.cfg import get_cfg
    from ultralytics.utils import DEFAULT_CFG
    from ultralytics.utils.torch_utils import ModelEMA, convert_optimizer_state_dict_to_fp16

    args = get_cfg(DEFAULT_CFG, {"model": "yolov8n.yaml", "data": "coco8.yaml", "epochs": 1})
    model.args = args  # an IterableSimpleNamespace, as the trainer sets it
    model.criterion = model.init_criterion()  # v8DetectionLoss, BboxLoss, TaskAlignedAssigner
    ema = ModelEMA(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sum(p.sum() for p in model.parameters()).backward()
    optimizer.step()  # momentum buffers in the optimizer state
    ckpt = {
        "epoch": 0,
        "best_fitness": np.float64(0.1),
        "stopper": {"best_fitness": np.float64(0.1), "best_epoch": 0},
        "model": None,
        "ema": deepcopy(ema.ema).half(),
        "updates": ema.updates,
        "modelopt": None,
        "optimizer": convert_optimizer_state_dict_to_fp16(deepcopy(optimizer.state_dict())),
        "scaler": torch.amp.GradScaler("cpu", enabled=False).state_dict(),
        "train_args": vars(args),
        "train_metrics": {"metrics/mAP50(B)": np.float64(0.5), "fitness": np.float64(0.1)},
        "train_results": {"epoch": [1], "train/box_loss": [1.5]},
        "date": datetime.now().astimezone().isoformat(),
        "version": __version__,
        "git": {"root": None, "branch": None, "commit": None, "message": None, "origin": None},
        "license": "AGPL-3.0 (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
    }
    torch.save(ckpt, path)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    from ultralytics import YOLO
    from ultralytics.utils.torch_utils import strip_optimizer

    folder = tmp_path_factory.mktemp("checkpoints")
    out = {name: folder / f"{name}.pt" for name in ("yolov8n", "yolo11n", "last", "best", "fused")}
    YOLO("yolo11n.yaml").save(out["yolo11n"])  # Model.save: the layout of released weights
    yolov8n = YOLO("yolov8n.yaml")
    yolov8n.save(out["yolov8n"])
    _training_checkpoint(deepcopy(yolov8n.model), out["last"])
    strip_optimizer(out["last"], str(out["best"]))  # how a finished training run writes best.pt
    yolov8n.model.fuse()  # fused layers pickle their bound forward_fuse through builtins.getattr
    yolov8n.save(out["fused"])
    return out


@pytest.mark.parametrize("name", ["yolov8n", "yolo11n", "last", "best", "fused"])
def test_ultralytics_checkpoints_pass_and_still_load(checkpoints, name):
    from ultralytics import YOLO

    check_torch_pickle(checkpoints[name])
    model = YOLO(str(checkpoints[name]), task="detect")
    assert model.task == "detect" and len(model.names) == 80


def test_plain_state_dicts_pass_in_every_format(tmp_path):
    state = {"conv": torch.nn.Conv2d(3, 4, 3).state_dict(), "step": 3, "lr": [0.1], "name": b"bytes"}
    for kwargs in ({}, {"pickle_protocol": 4}, {"_use_new_zipfile_serialization": False}):
        path = tmp_path / f"sd{len(kwargs)}{sorted(kwargs)}.pt"
        torch.save(state, path, **kwargs)
        check_torch_pickle(path)
    legacy_module = tmp_path / "legacy_module.pt"  # legacy format: nn.Module classes as ('module', cls, ...) ids
    torch.save(
        torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU()),
        legacy_module,
        _use_new_zipfile_serialization=False,
    )
    check_torch_pickle(legacy_module)


def test_real_legacy_state_dict_passes():
    check_torch_pickle(need_asset(ASSETS / "reid" / "osnet_x0_25_msmt17.pth"), what="re-id weights")


# --------------------------------------------------------------------------------------------------------------------
# Pickles that would run code
# --------------------------------------------------------------------------------------------------------------------


class _Payload:
    """An object whose unpickling calls ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _save(path: Path, payload, **kwargs) -> Path:
    torch.save({"model": payload, "train_args": {"task": "detect"}}, path, **kwargs)
    return path


def _refused(path: Path, *names: str, what: str = "detector weights") -> str:
    with pytest.raises(WeightsError) as err:
        check_torch_pickle(path, what=what)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{what} {path}")
    assert "refuses to load weights that would run code" in text and "ONNX" in text
    for name in names:
        assert name in text
    return text


@pytest.fixture
def fake_module(monkeypatch):
    module = types.ModuleType("hoopsense_fake_payload")

    def run(command):  # pragma: no cover - never called
        raise AssertionError("the scan ran pickled code")

    run.__module__ = module.__name__
    run.__qualname__ = "run"
    module.run = run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def _malicious(kind: str, marker: Path, fake_module):
    from ultralytics.utils.checks import check_requirements

    return {
        "os.system": (_Payload(os.system, f"touch {marker}"), f"{os.system.__module__}.system"),
        "eval": (_Payload(builtins.eval, f"open({str(marker)!r}, 'w')"), "builtins.eval"),
        "popen": (_Payload(subprocess.Popen, ["touch", str(marker)]), "subprocess.Popen"),
        "check_requirements": (
            _Payload(check_requirements, "evil-package"),
            "ultralytics.utils.checks.check_requirements",
        ),
        "unknown module": (_Payload(fake_module.run, str(marker)), "hoopsense_fake_payload.run"),
    }[kind]


@pytest.mark.parametrize("kind", ["os.system", "eval", "popen", "check_requirements", "unknown module"])
@pytest.mark.parametrize("fmt", ["zip", "zip protocol 4", "legacy"])
def test_code_running_globals_are_refused_unread(tmp_path, fake_module, kind, fmt):
    marker = tmp_path / "MARKER"
    payload, name = _malicious(kind, marker, fake_module)
    kwargs = {"zip": {}, "zip protocol 4": {"pickle_protocol": 4}, "legacy": {"_use_new_zipfile_serialization": False}}
    path = _save(tmp_path / "evil.pt", payload, **kwargs[fmt])
    _refused(path, f"'{name}'")
    assert not marker.exists()


def test_raw_pickle_renamed_pt_is_refused(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_Payload(os.system, f"touch {marker}"), protocol=2))
    _refused(path, f"{os.system.__module__}.system", what="pose weights")
    assert not marker.exists()


def test_module_class_called_with_arguments_is_refused(tmp_path):
    # nn.Module classes are allowed as NEWOBJ classes (no __init__), not as REDUCE callables (__init__(*file args)).
    path = _save(tmp_path / "ctor.pt", _Payload(torch.nn.Conv2d, 1, 1, 1))
    _refused(path, "torch.nn.modules.conv.Conv2d", "constructor")


def test_getattr_only_takes_forward_of_modules(tmp_path):
    path = _save(tmp_path / "getattr.pt", _Payload(getattr, torch.nn.Conv2d, "__init__"))
    _refused(path, "builtins.getattr")
    from ultralytics.nn.modules.head import Detect

    path = _save(tmp_path / "call_forward.pt", _Payload(Detect.forward, 1))  # getattr(Detect, 'forward')(1)
    _refused(path, "calls an object that is not an allowed global")


def test_rebuild_from_type_only_calls_tensor_rebuilders(tmp_path):
    path = _save(
        tmp_path / "rebuild.pt",
        _Payload(torch._tensor._rebuild_from_type_v2, torch.nn.Conv2d, torch.Tensor, (1, 1, 1), {}),
    )
    _refused(path, "torch._tensor._rebuild_from_type_v2")


# Hand-written pickles for what the pickler never emits by itself.
P = pickle


def _unicode(text: str) -> bytes:
    data = text.encode()
    return P.SHORT_BINUNICODE + bytes([len(data)]) + data


def _zip_pickle(path: Path, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data)
        archive.writestr("archive/version", "3\n")
    return path


def test_stack_global_operands_are_followed_through_the_memo(tmp_path):
    marker = tmp_path / "MARKER"
    data = (
        P.PROTO + b"\x04"
        + _unicode("posix") + P.MEMOIZE + P.POP  # memo 0
        + _unicode("system") + P.MEMOIZE + P.POP  # memo 1
        + P.BINGET + b"\x00" + P.BINGET + b"\x01" + P.STACK_GLOBAL
        + _unicode(f"touch {marker}") + P.TUPLE1 + P.REDUCE + P.STOP
    )  # fmt: skip
    _refused(_zip_pickle(tmp_path / "memo.pt", data), "'posix.system'")
    # Operands computed by a call cannot be known without running it: refused.
    data = (
        P.PROTO + b"\x04"
        + P.GLOBAL + b"builtins\nstr\n" + _unicode("posix") + P.TUPLE1 + P.REDUCE
        + _unicode("system") + P.STACK_GLOBAL + P.STOP
    )  # fmt: skip
    _refused(_zip_pickle(tmp_path / "computed.pt", data), "STACK_GLOBAL", "cannot be determined")
    assert not marker.exists()


def test_build_on_a_class_is_refused(tmp_path):
    # BUILD on a class would set class attributes (here Conv2d.forward) for the whole process.
    data = (
        P.PROTO + b"\x02" + P.GLOBAL + b"torch.nn.modules.conv\nConv2d\n"
        + P.NONE + P.EMPTY_DICT + _unicode("forward") + P.NONE + P.SETITEM + P.TUPLE2 + P.BUILD + P.STOP
    )  # fmt: skip
    _refused(_zip_pickle(tmp_path / "build.pt", data), "BUILD")


def test_tensor_constructors_are_refused(tmp_path):
    # torch.Tensor.__new__(cdata=<int>) would dereference an address from the file; tensors come from rebuilders.
    data = (
        P.PROTO + b"\x04" + P.GLOBAL + b"torch\nTensor\n" + P.EMPTY_TUPLE
        + P.EMPTY_DICT + _unicode("cdata") + P.BININT + struct.pack("<i", 4096) + P.SETITEM + P.NEWOBJ_EX + P.STOP
    )  # fmt: skip
    _refused(_zip_pickle(tmp_path / "cdata.pt", data), "torch.Tensor", "keyword arguments")
    data = P.PROTO + b"\x02" + P.GLOBAL + b"torch\nTensor\n" + P.EMPTY_LIST + P.TUPLE1 + P.REDUCE + P.STOP
    _refused(_zip_pickle(tmp_path / "ctor.pt", data), "torch.Tensor")


def test_excluded_ultralytics_module_classes_are_refused(tmp_path):
    data = (
        P.PROTO + b"\x02" + P.GLOBAL + b"ultralytics.nn.autobackend\nAutoBackend\n" + P.EMPTY_TUPLE + P.NEWOBJ + P.STOP
    )
    _refused(_zip_pickle(tmp_path / "autobackend.pt", data), "ultralytics.nn.autobackend.AutoBackend")


def test_legacy_ultralytics_names_pass(tmp_path):
    # Pre-8.1 checkpoints name classes by older paths that Ultralytics aliases while loading.
    data = P.PROTO + b"\x02" + P.EMPTY_DICT + P.MARK
    for module, name in [
        ("ultralytics.nn.modules", "Conv"),  # a re-export of ultralytics.nn.modules.conv.Conv
        ("ultralytics.nn.tasks", "YOLOv10DetectionModel"),
        ("ultralytics.nn.modules.block", "Silence"),
    ]:
        data += _unicode(name) + P.GLOBAL + f"{module}\n{name}\n".encode() + P.EMPTY_TUPLE + P.NEWOBJ
        data += P.EMPTY_DICT + P.BUILD
    data += _unicode("args") + P.GLOBAL + b"ultralytics.yolo.utils\nIterableSimpleNamespace\n" + P.EMPTY_TUPLE
    data += P.REDUCE + P.EMPTY_DICT + P.BUILD + P.SETITEMS + P.STOP
    check_torch_pickle(_zip_pickle(tmp_path / "old.pt", data))


def test_torchscript_archives_are_refused(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.ReLU()), str(path))
    _refused(path, "TorchScript")


# --------------------------------------------------------------------------------------------------------------------
# Unreadable files
# --------------------------------------------------------------------------------------------------------------------


def _unreadable(path: Path) -> str:
    with pytest.raises(WeightsError) as err:
        check_torch_pickle(path)
    text = str(err.value)
    assert "\n" not in text and "not a readable torch checkpoint" in text and str(path) in text
    return text


def test_truncated_zip_is_unreadable(tmp_path):
    good = tmp_path / "good.pt"
    torch.save(OrderedDict(w=torch.zeros(64, 64)), good)
    data = good.read_bytes()
    for n, cut in enumerate((len(data) // 2, len(data) - 30, 10)):
        bad = tmp_path / f"cut{n}.pt"
        bad.write_bytes(data[:cut])
        _unreadable(bad)


def test_files_that_are_not_pickles_are_unreadable(tmp_path):
    samples = {
        "image.pt": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "text.pt": b"hello world, these are not weights\n",
        "numbers.pt": struct.pack("<16d", *range(16)),
        "pickle_of_data.pt": pickle.dumps({"a": 1}, protocol=2),  # a pickle, but not a torch file
        "empty.pt": b"",
    }
    for name, data in samples.items():
        path = tmp_path / name
        path.write_bytes(data)
        _unreadable(path)
    with pytest.raises(WeightsError, match="cannot read"):
        check_torch_pickle(tmp_path / "missing.pt")


def test_scan_does_not_unpickle(monkeypatch, checkpoints):
    def refuse(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("the scan unpickled the file")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    check_torch_pickle(checkpoints["yolo11n"])

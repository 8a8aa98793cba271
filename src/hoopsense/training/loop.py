"""Fine-tuning loop: AdamW with warm-up and cosine decay, class balance, early stopping on
validation macro-F1, best checkpoint with metadata, resumable state.

Files written next to ``out`` (``model.pt``): the best checkpoint ``model.pt``,
``model.history.json`` (one record per epoch), ``model.split.json`` (unless a
split file was given) and ``model.state.pt`` (everything needed to resume).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hoopsense import __version__
from hoopsense.devices import check_device_name, pick_device, pick_dtype, use_all_cores
from hoopsense.errors import ConfigError, WeightsError, check_range
from hoopsense.recognizer.model import (
    ARCHITECTURES,
    CheckpointMeta,
    build_model,
    save_checkpoint,
)
from hoopsense.recognizer.transforms import normalise_batch
from hoopsense.training.augment import Augment
from hoopsense.training.data import (
    ClipDataset,
    ClipGeometry,
    default_workers,
    make_loader,
)
from hoopsense.training.datasets import ClipSet
from hoopsense.training.metrics import classification_report
from hoopsense.training.splits import (
    Split,
    load_split,
    make_split,
    records_of,
    save_split,
)

BALANCE = ("weights", "sampler", "none")


@dataclass(frozen=True)
class TrainConfig:
    """How to fine-tune. ``init``: ``auto`` (torchvision's pretrained weights when they can be
    had, else from scratch with a warning), ``pretrained`` (must succeed), ``none`` or a local
    ``.pth``. ``train_layers``: parameter-name prefixes to train (None: all), e.g.
    ``("layer3", "layer4", "fc")``. ``background``: the "no action" label (``auto``:
    ``no_action`` when present)."""

    architecture: str = "r2plus1d_18"
    epochs: int = 15
    batch_size: int = 8
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    clip_len: int = 16
    frame_step: int = 1
    resize: int = 128
    crop_size: int = 112
    context: float = 1.25
    init: str = "auto"
    train_layers: tuple[str, ...] | None = None
    balance: str = "weights"
    label_smoothing: float = 0.0
    patience: int = 5
    val_fraction: float = 0.2
    seed: int = 0
    workers: int | None = None
    device: str = "auto"
    precision: str = "auto"
    augment: Augment = field(default_factory=Augment)
    background: str | None = "auto"

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"--arch must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}")
        checks = (
            ("--epochs", self.epochs, 1, 10_000), ("--batch-size", self.batch_size, 1, 4096),
            ("--clip-len", self.clip_len, 1, 256), ("--frame-step", self.frame_step, 1, 16),
            ("--patience", self.patience, 1, 10_000),
        )
        for name, value, lo, hi in checks:
            check_range(name, value, lo, hi)
        if not 0 < self.lr < 1:
            raise ConfigError(f"--lr must be in (0, 1), got {self.lr}")
        if not 8 <= self.crop_size <= self.resize <= 1024:
            raise ConfigError(f"need 8 <= --crop-size <= --resize <= 1024, got {self.crop_size} and {self.resize}")
        if self.balance not in BALANCE:
            raise ConfigError(f"--balance must be one of {', '.join(BALANCE)}, got {self.balance!r}")
        if self.workers is not None:
            check_range("--workers", self.workers, 0, 64)
        check_device_name(self.device)


@dataclass
class TrainResult:
    checkpoint: Path
    history: list[dict]
    best_epoch: int
    best: dict
    stopped_early: bool
    split: Split
    init: str


def side_files(out: Path) -> dict[str, Path]:
    stem = out.with_suffix("") if out.suffix else out
    return {name: stem.with_name(f"{stem.name}.{name}{suffix}") for name, suffix in
            (("history", ".json"), ("split", ".json"), ("state", ".pt"))}


def _init_model(config: TrainConfig, n_classes: int) -> tuple[nn.Module, str]:
    arch = ARCHITECTURES[config.architecture]
    if config.init == "none":
        return build_model(config.architecture, n_classes), "random (none asked)"
    if config.init == "auto":
        try:
            return build_model(config.architecture, n_classes, init="pretrained"), f"{arch.pretrained_on} (torchvision)"
        except WeightsError as exc:
            warnings.warn(f"training from scratch: {exc}", stacklevel=2)
            return build_model(config.architecture, n_classes), "random (pretrained weights unavailable)"
    model = build_model(config.architecture, n_classes, init=config.init)
    return model, (f"{arch.pretrained_on} (torchvision)" if config.init == "pretrained" else str(config.init))


def _in_layer(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


def _freeze(model: nn.Module, prefixes: tuple[str, ...] | None) -> list[nn.Parameter]:
    if not prefixes:
        return list(model.parameters())
    names = [n for n, _ in model.named_parameters()]
    for p in prefixes:
        if not any(_in_layer(n, p) for n in names):
            raise ConfigError(f"--train-layers: no layer {p!r}; layers are {', '.join(dict.fromkeys(n.split('.')[0] for n in names))}")
    trainable = []
    for n, param in model.named_parameters():
        keep = any(_in_layer(n, p) for p in prefixes)
        param.requires_grad_(keep)
        if keep:
            trainable.append(param)
    return trainable


def _frozen_batchnorm_eval(model: nn.Module) -> None:
    """Keep the running statistics of fully frozen normalisation layers."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in module.parameters()):
            module.eval()


def _schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _class_counts(records, n: int) -> np.ndarray:
    return np.bincount([r.label for r in records], minlength=n)


def predict(model: nn.Module, loader, device: torch.device, meta_mean, meta_std, *, dtype: torch.dtype, memory_format) -> tuple[np.ndarray, np.ndarray, float]:
    """Logits-argmax predictions, labels and mean loss over a loader."""
    model.eval()
    preds, labels, losses = [], [], 0.0
    criterion = nn.CrossEntropyLoss(reduction="sum")
    with torch.inference_mode():
        for clips, y in loader:
            x = normalise_batch(clips.to(device), mean=meta_mean, std=meta_std).contiguous(memory_format=memory_format)
            y = y.to(device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                logits = model(x)
            losses += float(criterion(logits.float(), y))
            preds.append(logits.argmax(1).cpu().numpy())
            labels.append(y.cpu().numpy())
    if not preds:
        return np.empty(0, np.int64), np.empty(0, np.int64), 0.0
    y_true = np.concatenate(labels)
    return np.concatenate(preds), y_true, losses / len(y_true)


def train(
    data: ClipSet,
    config: TrainConfig,
    out: Path,
    *,
    split_file: Path | None = None,
    resume: bool = False,
    on_step: Callable[[int, int, int, float], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Fine-tune on ``data`` and write the best checkpoint to ``out`` (see the module docstring)."""
    out = Path(out)
    if not out.parent.is_dir():
        raise ConfigError(f"output folder does not exist: {out.parent}")
    files = side_files(out)
    torch.manual_seed(config.seed)
    n = len(data.labels)
    if split_file is not None:
        split = load_split(split_file, data)
    else:
        split = make_split(data, val_fraction=config.val_fraction, seed=config.seed)
        split_file = save_split(split, files["split"], data)
    train_records, val_records = records_of(data, split.train), records_of(data, split.val)
    if not train_records:
        raise ConfigError("the training split is empty")
    if not val_records:
        raise ConfigError(
            "the validation split is empty: every class has a single group of clips; add clips, "
            "or pass --split with a file that names validation clips"
        )
    background = config.background
    if background == "auto":
        background = "no_action" if "no_action" in data.labels else None
    if background is not None and background not in data.labels:
        raise ConfigError(f"--background {background!r} is not one of the labels {list(data.labels)}")

    device = torch.device(pick_device(config.device))
    if device.type == "cpu":
        use_all_cores()
    dtype = pick_dtype(config.precision, device)  # mixed precision: weights stay fp32
    arch = ARCHITECTURES[config.architecture]
    memory_format = torch.channels_last_3d if (device.type == "cpu" and arch.kind == "video") else torch.contiguous_format
    model, init_text = _init_model(config, n)
    trainable = _freeze(model, config.train_layers)
    model.to(device, memory_format=memory_format)
    fill = tuple(int(round(255 * m)) for m in arch.mean)
    geometry = ClipGeometry(config.clip_len, config.frame_step, config.resize, config.crop_size, data.fit, fill)  # type: ignore[arg-type]
    workers = default_workers() if config.workers is None else config.workers
    train_set = ClipDataset(train_records, geometry, augment=config.augment, seed=config.seed)
    counts = _class_counts(train_records, n)
    sample_weights = None
    if config.balance == "sampler":
        sample_weights = np.array([1.0 / counts[r.label] for r in train_records])
    class_weights = None
    if config.balance == "weights":
        present = counts > 0
        w = np.zeros(n)
        w[present] = counts.sum() / (present.sum() * counts[present])
        class_weights = torch.tensor(w, dtype=torch.float32, device=device)
    train_loader = make_loader(train_set, config.batch_size, shuffle=True, workers=workers, sample_weights=sample_weights, seed=config.seed)
    val_loader = make_loader(ClipDataset(val_records, geometry), config.batch_size, shuffle=False, workers=workers)
    criterion = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=config.label_smoothing)
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = len(train_loader)
    scheduler = _schedule(optimizer, max(1, int(config.warmup_epochs * steps_per_epoch)), config.epochs * steps_per_epoch)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    history: list[dict] = []
    best: dict = {}
    best_epoch, bad_epochs, start_epoch = 0, 0, 1
    if resume:
        state = _load_state(files["state"], config, data)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        history, best, best_epoch, bad_epochs = state["history"], state["best"], state["best_epoch"], state["bad_epochs"]
        start_epoch = state["epoch"] + 1

    meta_base = CheckpointMeta(
        architecture=config.architecture, labels=data.labels, clip_len=config.clip_len, frame_step=config.frame_step,
        crop_size=config.crop_size, resize=config.resize, mean=arch.mean, std=arch.std, context=config.context,
        background=background,
    )
    stopped_early = False
    for epoch in range(start_epoch, config.epochs + 1):
        if bad_epochs >= config.patience:
            stopped_early = True
            break
        started = time.perf_counter()
        model.train()
        _frozen_batchnorm_eval(model)
        train_set.epoch = epoch
        loss_sum, correct, seen = 0.0, 0, 0
        for step, (clips, y) in enumerate(train_loader, start=1):
            x = normalise_batch(clips.to(device, non_blocking=True), mean=arch.mean, std=arch.std).contiguous(memory_format=memory_format)
            y = y.to(device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                logits = model(x)
            loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            if on_step:
                on_step(epoch, step, steps_per_epoch, loss_sum / seen)
        train_s = time.perf_counter() - started
        pred, true, val_loss = predict(model, val_loader, device, arch.mean, arch.std, dtype=dtype, memory_format=memory_format)
        report = classification_report(true, pred, data.labels)
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / max(1, seen),
            "train_accuracy": correct / max(1, seen),
            "val_loss": val_loss,
            "val_accuracy": report.accuracy,
            "val_macro_f1": report.macro_f1,
            "lr": optimizer.param_groups[0]["lr"],
            "train_clips_per_s": seen / train_s if train_s > 0 else 0.0,
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        improved = not best or report.macro_f1 > best["val_macro_f1"] + 1e-9
        if improved:
            best, best_epoch, bad_epochs = dict(record), epoch, 0
            _save_best(out, model, meta_base, record, config, data, split, split_file, files, init_text, len(train_records), len(val_records))
        else:
            bad_epochs += 1
        record["best"] = improved
        _write_json(files["history"], history)
        _save_state(files["state"], model, optimizer, scheduler, scaler, epoch, history, best, best_epoch, bad_epochs, config, data)
        if on_epoch:
            on_epoch(record)
    return TrainResult(out, history, best_epoch, best, stopped_early, split, init_text)


def _save_best(out, model, meta_base, record, config, data, split, split_file, files, init_text, n_train, n_val) -> None:
    metrics = {k: round(float(record[k]), 6) for k in ("val_macro_f1", "val_accuracy", "val_loss", "train_loss", "train_accuracy")}
    metrics["epoch"] = record["epoch"]
    training = {
        "dataset": str(data.root),
        "format": data.format,
        "fit": data.fit,
        "split_file": str(Path(split_file).resolve()),
        "history_file": str(files["history"].resolve()),
        "clips_train": n_train,
        "clips_val": n_val,
        "init": init_text,
        "train_layers": list(config.train_layers) if config.train_layers else "all",
        "balance": config.balance,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "precision": config.precision,
        "lr": config.lr,
        "seed": config.seed,
        "augment": asdict(config.augment),
    }
    meta = replace(meta_base, metrics=metrics, training=training, hoopsense_version=__version__)
    was_training = model.training
    save_checkpoint(out, model, meta)
    model.train(was_training)


def _write_json(path: Path, doc) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)


def _config_key(config: TrainConfig, data: ClipSet) -> dict:
    return {"architecture": config.architecture, "labels": list(data.labels), "clip_len": config.clip_len,
            "crop_size": config.crop_size, "epochs": config.epochs}


def _save_state(path, model, optimizer, scheduler, scaler, epoch, history, best, best_epoch, bad_epochs, config, data) -> None:
    state = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(), "epoch": epoch, "history": history, "best": best, "best_epoch": best_epoch,
        "bad_epochs": bad_epochs, "key": _config_key(config, data),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_state(path: Path, config: TrainConfig, data: ClipSet) -> dict:
    if not path.is_file():
        raise ConfigError(f"--resume: no training state at {path}; start without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable state is the same user error
        raise ConfigError(f"--resume: cannot read {path} ({str(exc).splitlines()[0][:160]})") from exc
    if state.get("key") != _config_key(config, data):
        raise ConfigError(f"--resume: {path} was written for other settings ({state.get('key')}); use the same options")
    return state

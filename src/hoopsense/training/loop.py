"""Fine-tuning loop: AdamW with warm-up and cosine decay, class balance, early stopping on
validation macro-F1, best checkpoint with metadata, resumable state.

Files written next to ``out`` (``model.pt``): the best checkpoint ``model.pt``,
``model.history.json`` (one record per epoch), ``model.split.json`` (unless a
split file was given) and ``model.state.pt`` (everything needed to resume).

Under ``torchrun`` every process runs :func:`train` on its share of each epoch
(DistributedDataParallel, see :mod:`hoopsense.training.distributed`); validation
is shared too and its counts summed, so every process keeps the same history and
stops at the same epoch; only rank 0 writes the files, the same as one process's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hoopsense.devices import PRECISIONS, check_device_name, pick_dtype
from hoopsense.errors import ConfigError, HoopsenseError, check_choice, check_range
from hoopsense.recognizer.model import (
    ARCHITECTURES,
    CheckpointMeta,
)
from hoopsense.recognizer.transforms import normalise_batch
from hoopsense.training import distributed
from hoopsense.training.augment import Augment
from hoopsense.training.bf16_guard import fp32_short_input_convs
from hoopsense.training.formats import ClipSet
from hoopsense.training.keypoints import KeypointDataset, extract_ball, extract_keypoints
from hoopsense.training.loader import (
    ClipDataset,
    ClipGeometry,
    ShardSampler,
    default_workers,
    make_loader,
)
from hoopsense.training.metrics import Report, classification_report, confusion_matrix
from hoopsense.training.model_setup import class_counts, freeze, frozen_batchnorm_eval, init_model, schedule
from hoopsense.training.splits import (
    Split,
    load_split,
    make_split,
    records_of,
    save_split,
)
from hoopsense.training.state import (
    config_key,
    load_state,
    save_best,
    save_state,
    side_files,
    training_info,
    write_history,
)

BALANCE = ("weights", "sampler", "none")


class TrainingDiverged(HoopsenseError):
    """The loss or the gradients became NaN or infinite; training stopped, the last good checkpoint is kept."""


@dataclass(frozen=True)
class TrainConfig:
    """How to fine-tune. ``init``: ``auto`` (torchvision's pretrained weights when they can be
    had, else from scratch with a warning), ``pretrained`` (must succeed), ``none`` or a local
    ``.pth``. ``train_layers``: parameter-name prefixes to train (None: all), e.g.
    ``("layer3", "layer4", "fc")``. ``background``: the "no action" label (``auto``:
    ``no_action`` when present). ``grad_clip``: largest gradient norm (0: no clipping).
    ``pose``: for a skeleton architecture, the pose model (a name or a local ``.pt`` or OpenVINO folder)
    whose keypoints are extracted from the clips once and cached beside them
    (:mod:`hoopsense.training.keypoints`); ``ball``: for ``skeleton-ball-tcn``, the detector (with a
    ball class) that finds the ball in them, cached the same way."""

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
    grad_clip: float = 200.0  # a safety net: fp32 R(2+1)D-18 on real clips measured 35-118
    pose: str = "yolo11n-pose.pt"  # the pose model whose keypoints a skeleton architecture learns from
    ball: str = "yolo11n.pt"  # the detector that finds the ball for skeleton-ball-tcn

    def __post_init__(self) -> None:
        check_choice(self, "architecture", ARCHITECTURES)
        for name, lo, hi in (("epochs", 1, 10_000), ("batch_size", 1, 4096), ("clip_len", 1, 256),
                             ("frame_step", 1, 16), ("patience", 1, 10_000), ("seed", 0, 2**32 - 1)):  # fmt: skip
            check_range(self, name, lo, hi)
        check_range(self, "lr", 0, 1, open_interval=True)
        check_range(self, "weight_decay", 0, 10)
        check_range(self, "warmup_epochs", 0, 1000)
        check_range(self, "label_smoothing", 0, 1, open_high=True)
        check_range(self, "val_fraction", 0, 1, open_interval=True)
        check_range(self, "context", 1, 4)
        check_range(self, "crop_size", 8, 1024)
        check_range(self, "resize", self.crop_size, 1024)
        check_range(self, "grad_clip", 0, 1e6)
        check_choice(self, "balance", BALANCE)
        check_choice(self, "precision", PRECISIONS)
        if self.workers is not None:
            check_range(self, "workers", 0, 64)
        check_device_name(self.device, owner=self)


@dataclass
class TrainResult:
    checkpoint: Path
    history: list[dict]
    best_epoch: int
    best: dict
    stopped_early: bool
    split: Split
    init: str


def _recorded(weights: str) -> str:
    """How a checkpoint names a model it was trained with: a local file by its full path, a name as it is."""
    local = Path(weights).expanduser()
    return str(local.resolve()) if local.exists() else weights


def model_input(
    batch: torch.Tensor, arch: Any, device: torch.device, memory_format: torch.memory_format
) -> torch.Tensor:
    """A loader's batch on ``device`` as the network takes it: uint8 pixel clips normalised with the
    architecture's mean and std; keypoint clips (already normalised) as they are."""
    if arch.uses_keypoints:
        return batch.to(device, non_blocking=True)
    x = normalise_batch(batch.to(device, non_blocking=True), mean=arch.mean, std=arch.std)
    return x.contiguous(memory_format=memory_format)


def predict(
    model: nn.Module, loader, device: torch.device, arch: Any, *, dtype: torch.dtype, memory_format
) -> tuple[np.ndarray, np.ndarray, float]:
    """Logits-argmax predictions, labels and mean loss over a loader."""
    model.eval()
    preds, labels, losses = [], [], 0.0
    criterion = nn.CrossEntropyLoss(reduction="sum")
    with torch.inference_mode():
        for clips, y in clean_errors(loader):
            x = model_input(clips, arch, device, memory_format)
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


def validate(
    model: nn.Module,
    loader: Any,
    device: torch.device,
    arch: Any,
    labels: tuple[str, ...],
    dtype: torch.dtype,
    memory_format: torch.memory_format,
) -> tuple[Report, float]:
    """The validation report and mean loss; under torchrun each process predicts its share of
    the clips with rank 0's weights and buffers, and the confusion counts and losses are summed."""
    distributed.share_buffers(model)
    with distributed.together():
        pred, true, val_loss = predict(model, loader, device, arch, dtype=dtype, memory_format=memory_format)
    if not distributed.active():
        return classification_report(true, pred, labels), val_loss
    n = len(labels)
    counts = distributed.all_sum(confusion_matrix(true, pred, n)).ravel()  # int64 (n * n,)
    loss_sum, clips = distributed.all_sum(np.array([val_loss * len(true), len(true)], np.float64))
    cells = np.repeat(np.arange(n * n), counts)  # the confusion matrix back as (true, predicted) pairs
    return classification_report(cells // n, cells % n, labels), float(loss_sum / max(1.0, clips))


def train(
    data: ClipSet,
    config: TrainConfig,
    out: Path,
    *,
    split_file: Path | None = None,
    resume: bool = False,
    on_step: Callable[[int, int, int, float], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    on_keypoints: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    """Fine-tune on ``data`` and write the best checkpoint to ``out`` (see the module docstring).

    Under torchrun, every process calls this with the same arguments; ``on_step`` (with this
    process's running loss) and ``on_epoch`` (with the shared record) are called in each;
    ``on_keypoints(kind, done, total)`` while a skeleton architecture's keypoints (``kind`` "keypoints")
    or balls ("ball") are extracted.
    """
    with distributed.joined(config.device):
        return _train(data, config, Path(out), split_file, resume, on_step, on_epoch, on_keypoints)


def _train(
    data: ClipSet,
    config: TrainConfig,
    out: Path,
    split_file: Path | None,
    resume: bool,
    on_step: Callable[[int, int, int, float], None] | None,
    on_epoch: Callable[[dict], None] | None,
    on_keypoints: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    ranks = distributed.current()
    with distributed.together():  # a failure in any process's set-up stops every process here
        if ranks.is_main and not out.parent.is_dir():
            try:
                out.parent.mkdir(parents=True)
            except OSError as exc:
                raise ConfigError(f"cannot create output folder {out.parent}: {exc.strerror or exc}") from None
        files = side_files(out)
        torch.manual_seed(config.seed)
        n = len(data.labels)
        if split_file is not None:
            split = load_split(split_file, data)
        else:
            split = make_split(data, val_fraction=config.val_fraction, seed=config.seed)
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

        device = distributed.pick_rank_device(config.device, ranks)
        arch = ARCHITECTURES[config.architecture]
        dtype = pick_dtype(arch.precision(config.precision), device)  # mixed precision: weights stay fp32
        memory_format = (
            torch.channels_last_3d if (device.type == "cpu" and arch.kind == "video") else torch.contiguous_format
        )
        model, init_text = init_model(config, n)
        trainable = freeze(model, config.train_layers)
        model.to(device, memory_format=memory_format)
        if device.type == "cpu" and dtype == torch.bfloat16:
            fp32_short_input_convs(model)  # oneDNN's bf16 weight gradients are wrong for them (see bf16_guard)
        fill = tuple(int(round(255 * m)) for m in arch.mean)
        geometry = ClipGeometry(config.clip_len, config.frame_step, config.resize, config.crop_size, data.fit, fill)  # type: ignore[arg-type]
        workers = default_workers() if config.workers is None else config.workers
        train_set: ClipDataset | KeypointDataset
        val_set: ClipDataset | KeypointDataset
        val_shard = distributed.shard_of(val_records, ranks)  # all of them for one process
        pose_info: dict[str, str] = {}
        if arch.uses_keypoints:
            clips, mosaic = [*train_records, *val_shard], data.fit == "pad"
            keypoints, key = extract_keypoints(
                clips, config.pose, mosaic=mosaic, device=config.device,
                on_clip=partial(on_keypoints, "keypoints") if on_keypoints else None,
            )  # fmt: skip
            pose_info = {"pose": _recorded(config.pose), "pose_key": key}
            balls = None
            if arch.uses_ball:
                balls, key = extract_ball(
                    clips, config.ball, mosaic=mosaic, device=config.device,
                    on_clip=partial(on_keypoints, "ball") if on_keypoints else None,
                )  # fmt: skip
                pose_info |= {"ball": _recorded(config.ball), "ball_key": key}
            train_set = KeypointDataset(
                train_records, keypoints, config.clip_len, config.frame_step, augment=config.augment,
                seed=config.seed, balls=balls,
            )  # fmt: skip
            val_set = KeypointDataset(val_shard, keypoints, config.clip_len, config.frame_step, balls=balls)
            workers = 0  # in memory: worker processes would only add their start-up
        else:
            train_set = ClipDataset(train_records, geometry, augment=config.augment, seed=config.seed)
            val_set = ClipDataset(val_shard, geometry)
        counts = class_counts(train_records, n)
        sample_weights = None
        if config.balance == "sampler":
            sample_weights = np.array([1.0 / counts[r.label] for r in train_records])
        class_weights = None
        if config.balance == "weights":
            present = counts > 0
            w = np.zeros(n)
            w[present] = counts.sum() / (present.sum() * counts[present])
            class_weights = torch.tensor(w, dtype=torch.float32, device=device)
        train_loader = make_loader(
            train_set, config.batch_size, shuffle=True, workers=workers, sample_weights=sample_weights,
            seed=config.seed, shard=ranks.shard,
        )  # fmt: skip
        val_loader = make_loader(val_set, config.batch_size, shuffle=False, workers=workers)
        criterion = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=config.label_smoothing)
        optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
        steps_per_epoch = len(train_loader)
        scheduler = schedule(
            optimizer, max(1, int(config.warmup_epochs * steps_per_epoch)), config.epochs * steps_per_epoch
        )
        scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

        history: list[dict] = []
        best: dict = {}
        best_epoch, bad_epochs, start_epoch = 0, 0, 1
        objects: dict[str, Any] = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
        key = config_key(config, data.labels)
        if resume:
            state = load_state(files["state"], key)
            for name, obj in objects.items():
                obj.load_state_dict(state[name])
            history, best, best_epoch, bad_epochs = (
                state["history"],
                state["best"],
                state["best_epoch"],
                state["bad_epochs"],
            )
            start_epoch = state["epoch"] + 1
        split_written = split_file is not None
        split_file = split_file if split_file is not None else files["split"]
        training = (
            training_info(config, data, split_file, files["history"], init_text, len(train_records), len(val_records))
            | pose_info
        )

        meta_base = CheckpointMeta(
            architecture=config.architecture,
            labels=data.labels,
            clip_len=config.clip_len,
            frame_step=config.frame_step,
            crop_size=config.crop_size,
            resize=config.resize,
            mean=arch.mean,
            std=arch.std,
            context=config.context,
            background=background,
        )
    net = distributed.wrap(model, device)  # DistributedDataParallel under torchrun, else the model itself
    stopped_early = False
    for epoch in range(start_epoch, config.epochs + 1):
        if bad_epochs >= config.patience:
            stopped_early = True
            break
        started = time.perf_counter()
        net.train()
        frozen_batchnorm_eval(model)
        train_set.epoch = epoch
        if isinstance(train_loader.sampler, ShardSampler):
            train_loader.sampler.set_epoch(epoch)
        loss_sum, correct, seen = 0.0, 0, 0
        for step, (clips, y) in enumerate(distributed.synced(clean_errors(train_loader)), start=1):
            x = model_input(clips, arch, device, memory_format)
            y = y.to(device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                logits = net(x)
            loss = criterion(logits.float(), y)
            if not torch.isfinite(total := distributed.total_loss(loss)):  # non-finite in one: in all
                error = diverged(out, epoch, step, "loss", float(total), best_epoch, config, dtype)
                raise distributed.on_all_ranks(error)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip > 0:
                scaler.unscale_(optimizer)
                norm = torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip)
                if not torch.isfinite(norm) and dtype != torch.float16:  # fp16: the scaler skips such steps
                    error = diverged(out, epoch, step, "gradient norm", float(norm), best_epoch, config, dtype)
                    raise distributed.on_all_ranks(error)  # the gradients, hence their norm, are shared
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            if on_step:
                on_step(epoch, step, steps_per_epoch, loss_sum / seen)
        train_s = time.perf_counter() - started
        loss_sum, correct, seen = distributed.sum_values(loss_sum, correct, seen)  # over the whole epoch
        report, val_loss = validate(model, val_loader, device, arch, data.labels, dtype, memory_format)
        if not math.isfinite(val_loss):
            error = diverged(out, epoch, None, "validation loss", val_loss, best_epoch, config, dtype)
            raise distributed.on_all_ranks(error)
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
        finite = all(math.isfinite(float(record[k])) for k in ("train_loss", "val_loss", "val_macro_f1"))
        improved = finite and (not best or report.macro_f1 > best["val_macro_f1"] + 1e-9)
        if improved:
            best, best_epoch, bad_epochs = dict(record), epoch, 0
        else:
            bad_epochs += 1
        record["best"] = improved
        with distributed.together():  # only rank 0 writes; a failed write stops every process
            if ranks.is_main:
                if not split_written:  # written with the first epoch's files: a run that fails before leaves nothing
                    save_split(split, split_file, data)
                if improved:
                    save_best(out, model, meta_base, record, training)
                write_history(files["history"], history)
                progress = {
                    "epoch": epoch,
                    "history": history,
                    "best": best,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                }
                save_state(files["state"], objects, progress, key)
        split_written = True
        if on_epoch:
            on_epoch(record)
    return TrainResult(out, history, best_epoch, best, stopped_early, split, init_text)


def diverged(
    out: Path,
    epoch: int,
    step: int | None,
    what: str,
    value: float,
    best_epoch: int,
    config: TrainConfig,
    dtype: torch.dtype,
) -> TrainingDiverged:
    """The one-line error for a non-finite loss or gradient: where, what is kept, what to try."""
    where = f"epoch {epoch}, step {step}" if step is not None else f"epoch {epoch} (validation)"
    kept = f"{out} keeps epoch {best_epoch}, the best so far" if best_epoch else "no checkpoint was written"
    tips = ["a lower --lr"]
    if dtype != torch.float32:
        tips.append("--precision fp32")
    if config.grad_clip == 0 or config.grad_clip > 10:
        tips.append("--grad-clip 10")
    return TrainingDiverged(f"training stopped: the {what} became {value} at {where}; {kept}; try {' or '.join(tips)}")


def clean_errors(loader: Any) -> Iterator[Any]:
    """Iterate over a loader; an expected error raised in a worker process comes out as its own
    one-line message, without the worker's traceback that torch puts into it."""
    try:
        yield from loader
    except HoopsenseError as exc:
        text = str(exc)
        if "Traceback" in text:
            last = [line for line in text.splitlines() if line.strip()][-1]
            text = last.split(": ", 1)[1] if last.startswith("hoopsense.errors.") and ": " in last else last
            raise type(exc)(text) from None
        raise

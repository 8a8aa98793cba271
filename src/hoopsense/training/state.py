"""What a training run writes beside ``model.pt``: the best checkpoint, the history and the
resume state, each written atomically (a crash leaves the previous version)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from hoopsense import __version__
from hoopsense.errors import ConfigError
from hoopsense.outputs import atomic_save, atomic_write_text
from hoopsense.recognizer.model import CheckpointMeta, save_checkpoint


def side_files(out: Path) -> dict[str, Path]:
    """``model.pt`` -> ``model.history.json``, ``model.split.json``, ``model.state.pt``."""
    stem = out.with_suffix("") if out.suffix else out
    return {name: stem.with_name(f"{stem.name}.{name}{suffix}") for name, suffix in
            (("history", ".json"), ("split", ".json"), ("state", ".pt"))}  # fmt: skip


def save_best(out: Path, model: Any, meta_base: CheckpointMeta, record: dict, training: dict[str, Any]) -> None:
    """Write the checkpoint of the best epoch so far with its metrics and how it was trained."""
    metrics = {
        k: round(float(record[k]), 6)
        for k in ("val_macro_f1", "val_accuracy", "val_loss", "train_loss", "train_accuracy")
    }
    metrics["epoch"] = record["epoch"]
    meta = replace(meta_base, metrics=metrics, training=training, hoopsense_version=__version__)
    was_training = model.training
    save_checkpoint(out, model, meta)
    model.train(was_training)


def write_history(path: Path, history: list[dict]) -> None:
    atomic_write_text(path, json.dumps(history, indent=1, allow_nan=False))


def config_key(config: Any, labels: tuple[str, ...]) -> dict:
    """What must match for ``--resume`` to continue a run."""
    return {"architecture": config.architecture, "labels": list(labels), "clip_len": config.clip_len,
            "crop_size": config.crop_size, "epochs": config.epochs}  # fmt: skip


def save_state(path: Path, objects: dict[str, Any], progress: dict[str, Any], key: dict) -> None:
    """Everything ``--resume`` needs: state dicts of ``objects`` (model, optimizer...) and the loop's ``progress``."""
    state = {name: obj.state_dict() for name, obj in objects.items()} | progress | {"key": key}
    atomic_save(path, lambda tmp: torch.save(state, tmp))


def load_state(path: Path, key: dict) -> dict:
    if not path.is_file():
        raise ConfigError(f"--resume: no training state at {path}; start without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable state is the same user error
        raise ConfigError(f"--resume: cannot read {path} ({str(exc).splitlines()[0][:160]})") from exc
    if state.get("key") != key:
        raise ConfigError(f"--resume: {path} was written for other settings ({state.get('key')}); use the same options")
    return state


def training_info(
    config: Any, data: Any, split_file: Path, history_file: Path, init_text: str, n_train: int, n_val: int
) -> dict[str, Any]:
    """The ``training`` section of a checkpoint's metadata (``datasets``: every folder of a merged set)."""
    several = {"datasets": [str(r) for r in data.roots]} if len(data.roots) > 1 else {}
    return {
        "dataset": str(data.root), **several, "format": data.format, "fit": data.fit,
        "split_file": str(Path(split_file).resolve()), "history_file": str(history_file.resolve()),
        "clips_train": n_train, "clips_val": n_val, "init": init_text,
        "train_layers": list(config.train_layers) if config.train_layers else "all",
        "balance": config.balance, "epochs": config.epochs, "batch_size": config.batch_size,
        "precision": config.precision, "lr": config.lr, "seed": config.seed, "grad_clip": config.grad_clip,
        "augment": asdict(config.augment),
    }  # fmt: skip

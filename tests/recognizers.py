"""Small recognizer checkpoints with random weights for tests (no Kinetics weights offline)."""

from __future__ import annotations

from pathlib import Path

import torch

from hoopsense.recognizer.model import CheckpointMeta, build_model, save_checkpoint


def make_checkpoint(
    path: Path,
    *,
    architecture: str = "r2plus1d_18",
    labels: tuple[str, ...] = ("dribble", "shoot", "no_action"),
    background: str | None = "no_action",
    clip_len: int = 4,
    crop_size: int = 32,
    resize: int = 40,
    seed: int = 0,
    **meta,
) -> Path:
    """A randomly initialised checkpoint; small clips keep CPU inference fast."""
    torch.manual_seed(seed)
    model = build_model(architecture, len(labels))
    info = CheckpointMeta(
        architecture=architecture,
        labels=labels,
        background=background,
        clip_len=clip_len,
        crop_size=crop_size,
        resize=resize,
        **meta,
    )
    return save_checkpoint(path, model, info)

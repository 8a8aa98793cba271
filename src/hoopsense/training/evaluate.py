"""``hoopsense evaluate``: a checkpoint on a labelled clip set -> metrics, confusion matrix, curves, report.

Clips are preprocessed by the recognizer exactly as at inference (the
checkpoint's clip length, frame step, resize, centre crop and normalisation).
The report folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hoopsense.errors import ConfigError, check_range
from hoopsense.outputs import atomic_folder, check_new_folder
from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig
from hoopsense.training.augment import sample_indices
from hoopsense.training.formats import ClipSet
from hoopsense.training.keypoints import extract_ball, extract_keypoints
from hoopsense.training.loader import (
    ClipDataset,
    ClipGeometry,
    default_workers,
    make_loader,
)
from hoopsense.training.metrics import (
    Report,
    classification_report,
    plot_confusion,
    plot_history,
)
from hoopsense.training.splits import load_split, records_of


@dataclass
class EvalResult:
    report: Report
    subset: str
    clips: int
    out_dir: Path
    files: list[Path]


def _pick_subset(data: ClipSet, subset: str, split_file: Path | None, checkpoint_split: str | None):
    if subset == "all":
        return data.records, "all", None
    split, split_path = None, split_file
    if split_file is not None:
        split = load_split(split_file, data)
    elif checkpoint_split and Path(checkpoint_split).is_file():
        with contextlib.suppress(ConfigError):  # the training split may have been made for another dataset
            split, split_path = load_split(Path(checkpoint_split), data), Path(checkpoint_split)
    if split is None:
        if subset != "auto":
            raise ConfigError(
                f"--subset {subset} needs a split file (--split, or the one the checkpoint was trained with)"
            )
        return data.records, "all", None
    if subset == "auto":
        subset = "test" if split.test else "val"
    ids = split.subset(subset)
    if not ids:
        raise ConfigError(f"the {subset} subset of {split_path} is empty")
    return records_of(data, ids), subset, split_path


def evaluate(
    checkpoint: Path,
    data: ClipSet,
    out_dir: Path,
    *,
    subset: str = "auto",
    split_file: Path | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
    on_batch=None,
    pose: str | None = None,
    fuse: Path | None = None,
    ball: str | None = None,
) -> EvalResult:
    out_dir = Path(out_dir)
    check_new_folder(out_dir)  # before the work, not only when writing
    if workers is not None:
        check_range("evaluate", "workers", 0, 64, value=workers)
    partner = None if fuse is None else str(fuse)
    config = RecognizerConfig(
        str(checkpoint),
        device=device,
        batch_size=batch_size,
        precision="fp32",
        pose=pose,
        ball=ball,
        fuse=partner,
    )
    rec = Recognizer(config)
    meta = rec.meta
    unknown = [name for name in data.labels if name not in meta.labels]
    if unknown:
        raise ConfigError(
            f"the dataset has classes the checkpoint does not know: {', '.join(unknown)} (checkpoint labels: {', '.join(meta.labels)})"
        )
    to_model = np.array([meta.labels.index(name) for name in data.labels])
    records, subset, split_path = _pick_subset(data, subset, split_file, meta.training.get("split_file"))
    y_true = [int(to_model[r.label]) for r in records]
    probs = _probabilities(rec, records, data, device, workers, on_batch)
    if rec.partner is not None:  # late fusion: each network reads its own input, then the mean
        probs = rec.fused(probs, _probabilities(rec.partner, records, data, device, workers, on_batch))
    y_pred = probs.argmax(1).tolist()
    report = classification_report(y_true, y_pred, meta.labels)

    with atomic_folder(out_dir) as tmp:
        fused = str(rec.partner.path) if rec.partner is not None else None
        files = _write_report(tmp, report, checkpoint, meta, data, subset, split_path, fused)
    return EvalResult(report, subset, len(records), out_dir, [out_dir / f.name for f in files])


def _probabilities(
    rec: Recognizer, records: list, data: ClipSet, device: str, workers: int | None, on_batch
) -> np.ndarray:
    """Class probabilities ``(N, C)`` of ``rec`` alone for ``records``, each clip prepared as at training:
    pixels through the checkpoint's geometry, or keypoints extracted once by the pose model and cached."""
    meta = rec.meta
    out = []
    if rec.uses_keypoints:
        if not rec.pose_weights:
            raise ConfigError(f"{rec.path} reads keypoints and names no pose model; give one with --pose")
        mosaic = data.fit == "pad"
        found, _ = extract_keypoints(records, str(rec.pose_weights), mosaic=mosaic, device=device)
        balls = None
        if rec.uses_ball:
            if not rec.ball_weights:
                raise ConfigError(f"{rec.path} reads the ball and names no ball detector; give one with --ball")
            balls, _ = extract_ball(records, str(rec.ball_weights), mosaic=mosaic, device=device)
        for start in range(0, len(records), 64):
            chunk = records[start : start + 64]
            picks = [sample_indices(len(found[r.id]), meta.clip_len, meta.frame_step) for r in chunk]
            clips = [found[r.id][idx] for r, idx in zip(chunk, picks)]
            ball_clips = None if balls is None else [balls[r.id][idx] for r, idx in zip(chunk, picks)]
            out.append(rec.predict_keypoints(clips, ball_clips))
            if on_batch:
                on_batch(start + len(chunk), len(records))
    else:
        geometry = ClipGeometry(meta.clip_len, meta.frame_step, meta.resize, meta.crop_size, data.fit, rec.fill)
        loader = make_loader(
            ClipDataset(records, geometry), 8, shuffle=False, workers=default_workers() if workers is None else workers
        )
        done = 0
        for clips, _labels in loader:
            out.append(rec.predict_clips(list(clips.numpy())))
            done += len(clips)
            if on_batch:
                on_batch(done, len(records))
    return np.concatenate(out) if out else np.empty((0, len(meta.labels)), np.float32)


def _write_report(
    folder: Path, report: Report, checkpoint: Path, meta, data: ClipSet, subset: str, split_path, fused: str | None
) -> list[Path]:
    files = []
    metrics = {
        "checkpoint": str(checkpoint),
        "dataset": str(data.root),
        **({"datasets": [str(r) for r in data.roots]} if len(data.roots) > 1 else {}),
        "format": data.format,
        "subset": subset,
        "split_file": str(split_path) if split_path else None,
        **({"fused_with": fused} if fused else {}),
        **report.to_dict(),
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    files.append(folder / "metrics.json")
    with open(folder / "per_class.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("label", "precision", "recall", "f1", "support"))
        for name, p, r, f, s in zip(report.labels, report.precision, report.recall, report.f1, report.support):
            w.writerow((name, f"{p:.4f}", f"{r:.4f}", f"{f:.4f}", int(s)))
    files.append(folder / "per_class.csv")
    for name, matrix, fmt in (
        ("confusion.csv", report.confusion, "{:d}"),
        ("confusion_normalised.csv", report.normalised(), "{:.4f}"),
    ):
        with open(folder / name, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(("true \\ predicted", *report.labels))
            for label, row in zip(report.labels, matrix):
                w.writerow((label, *(fmt.format(v.item()) for v in row)))
        files.append(folder / name)
    files.append(plot_confusion(report, folder / "confusion.png"))
    history_file = meta.training.get("history_file")
    curves = None
    if history_file and Path(history_file).is_file():
        history = json.loads(Path(history_file).read_text())
        if history:
            curves = plot_history(history, folder / "curves.png")
            files.append(curves)
    lines = [
        f"# Evaluation of `{checkpoint.name}`",
        "",
        f"- dataset: {', '.join(f'`{r}`' for r in data.roots)} ({data.format}), subset **{subset}**, {int(report.support.sum())} clips",
        f"- architecture: {meta.architecture}, clip {meta.clip_len} frames (step {meta.frame_step}), crop {meta.crop_size} px"
        + (f"; probabilities averaged with `{Path(fused).name}`" if fused else ""),
        f"- **accuracy {report.accuracy:.4f}**, **macro-F1 {report.macro_f1:.4f}**",
    ]
    if meta.metrics:
        lines.append(
            f"- at training time: validation macro-F1 {meta.metrics.get('val_macro_f1', float('nan')):.4f} (epoch {meta.metrics.get('epoch')})"
        )
    lines += ["", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, p, r, f, s in zip(report.labels, report.precision, report.recall, report.f1, report.support):
        lines.append(f"| {name} | {p:.3f} | {r:.3f} | {f:.3f} | {int(s)} |")
    lines += ["", "![confusion matrix](confusion.png)"]
    if curves:
        lines += ["", "![training curves](curves.png)"]
    (folder / "report.md").write_text("\n".join(lines) + "\n")
    files.append(folder / "report.md")
    return files

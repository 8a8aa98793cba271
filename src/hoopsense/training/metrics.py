"""Classification metrics computed as scikit-learn computes them, and their plots.

``macro_f1`` averages the per-class F1 over the classes present in the true or
predicted labels (scikit-learn's default); a class never predicted has
precision 0, a class never present has recall 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Counts int64 ``(n, n)``: row = true class, column = predicted class."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


@dataclass(frozen=True)
class Report:
    labels: tuple[str, ...]
    confusion: np.ndarray
    accuracy: float
    macro_f1: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray

    def normalised(self) -> np.ndarray:
        """Confusion rows divided by their support (rows without support stay 0)."""
        rows = self.confusion.sum(axis=1, keepdims=True)
        return np.divide(self.confusion, rows, out=np.zeros(self.confusion.shape), where=rows > 0)

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "clips": int(self.support.sum()),
            "per_class": {
                name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                for name, p, r, f, s in zip(self.labels, self.precision, self.recall, self.f1, self.support)
            },
        }


def classification_report(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> Report:
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(float)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = (support > 0) | (predicted > 0)
    total = int(cm.sum())
    return Report(
        labels=tuple(labels),
        confusion=cm,
        accuracy=float(tp.sum() / total) if total else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        precision=precision,
        recall=recall,
        f1=f1,
        support=support,
    )


def _figure(**kwargs: Any) -> Any:
    """A matplotlib figure drawn with Agg through the object API: no pyplot state, no backend switch."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def plot_confusion(report: Report, path: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix with counts, as a PNG."""
    n = len(report.labels)
    norm = report.normalised()
    fig = _figure(figsize=(1.0 + 0.6 * n, 0.8 + 0.55 * n), dpi=110)
    ax = fig.subplots()
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), report.labels, rotation=45, ha="right")
    ax.set_yticks(range(n), report.labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            if report.confusion[i, j]:
                ax.text(
                    j,
                    i,
                    f"{norm[i, j]:.2f}\n({report.confusion[i, j]})",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    ax.set_title(title or f"accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_history(history: list[dict], path: Path) -> Path:
    """Training curves (loss; accuracy and macro-F1) per epoch, as a PNG."""
    epochs = [h["epoch"] for h in history]
    fig = _figure(figsize=(10, 3.6), dpi=110)
    left, right = fig.subplots(1, 2)
    left.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    left.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    right.plot(epochs, [h["train_accuracy"] for h in history], marker="o", label="train accuracy")
    right.plot(epochs, [h["val_accuracy"] for h in history], marker="o", label="val accuracy")
    right.plot(epochs, [h["val_macro_f1"] for h in history], marker="o", label="val macro-F1")
    right.set_xlabel("epoch")
    right.set_ylim(0, 1.02)
    right.legend()
    fig.tight_layout()
    fig.savefig(path)
    return path

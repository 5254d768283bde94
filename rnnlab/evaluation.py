"""Test-set metrics and the figures people look at: confusion matrix and learning curves."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import classification_report, confusion_matrix


def report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """sklearn's classification report, rounded so that equal runs give byte-equal files."""
    rep = classification_report(y_true, y_pred, labels=range(len(labels)), target_names=labels,
                                output_dict=True, zero_division=0)
    rnd = lambda v: round(float(v), 6)
    out = {"accuracy": rnd(rep.pop("accuracy"))}
    for name, row in rep.items():
        out[name.replace(" ", "_")] = {k.replace("-", "_"): (int(v) if k == "support" else rnd(v)) for k, v in row.items()}
    return out


def plot_confusion(y_true, y_pred, labels: list[str], title: str, path: Path) -> np.ndarray:
    cm = confusion_matrix(y_true, y_pred, labels=range(len(labels)))
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black")
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels, yticklabels=labels,
           xlabel="Predicted label", ylabel="True label", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return cm


def plot_curves(history: list[dict], title: str, path: Path, metrics=("loss", "accuracy")) -> None:
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        ax.plot(epochs, [h[f"train_{metric}"] for h in history], marker="o", label="train")
        ax.plot(epochs, [h[f"val_{metric}"] for h in history], marker="o", label="validation")
        ax.set(title=f"{title}: {metric}", xlabel="epoch", ylabel=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def history_csv(history: list[dict]) -> str:
    """Per-epoch metrics as CSV for `dvc plots`, rounded so equal runs give equal bytes."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(history[0]), lineterminator="\n")
    w.writeheader()
    w.writerows({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()} for row in history)
    return buf.getvalue()

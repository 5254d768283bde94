"""Test-set metrics and the figures people look at: confusion matrix and learning curves."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from rnnlab import atomic

# The metrics below are sklearn's classification_report and confusion_matrix (zero_division=0),
# computed here with numpy: importing sklearn.metrics costs 1.5 s (scipy.stats) in every evaluation
# process, more than the evaluation itself. tests/test_evaluation.py checks them equal to sklearn's.


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """[true class, predicted class] counts over classes 0..n_classes-1."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)  # 0 where undefined, as zero_division=0


def report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Per-class precision, recall, F1 and support, their macro and weighted averages, accuracy;
    rounded so that equal runs give byte-equal files."""
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp, support, predicted = np.diag(cm).astype(float), cm.sum(1).astype(float), cm.sum(0).astype(float)
    scores = {"precision": _ratio(tp, predicted), "recall": _ratio(tp, support),
              "f1_score": _ratio(2 * tp, support + predicted)}
    rnd = lambda v: round(float(v), 6)
    out = {"accuracy": rnd(tp.sum() / max(len(np.asarray(y_true)), 1))}
    for i, name in enumerate(labels):
        out[name.replace(" ", "_")] = {**{k: rnd(v[i]) for k, v in scores.items()}, "support": int(support[i])}
    weights = support / support.sum() if support.sum() else np.zeros(len(labels))  # np.average's weighting
    out["macro_avg"] = {**{k: rnd(v.mean()) for k, v in scores.items()}, "support": int(support.sum())}
    out["weighted_avg"] = {**{k: rnd((v * weights).sum()) for k, v in scores.items()}, "support": int(support.sum())}
    return out


def _pyplot():
    """matplotlib, imported at the first figure: the train stages import this module for its metrics
    and never plot, and pyplot costs them a second of start-up."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(y_true, y_pred, labels: list[str], title: str, path: Path) -> np.ndarray:
    """Counts, shaded by the share of each true class (rows), so that rare classes stay readable;
    the figure grows with the number of classes (2 for spam, 7 authors, 30 news categories).
    Beside the PNG, the same pairs as CSV (actual, predicted) for DVC's confusion template."""
    atomic.write_text(Path(path).with_suffix(".csv"), _pairs_csv(y_true, y_pred, labels))
    cm = confusion_matrix(y_true, y_pred, len(labels))
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = max(4.5, 0.32 * len(labels) + 2)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    font = 8 if len(labels) <= 12 else 6
    for (i, j), v in np.ndenumerate(cm):
        if v or len(labels) <= 12:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=font + 1,
                    color="white" if share[i, j] > 0.5 else "black")
    rotation = 0 if len(labels) <= 3 else 35 if len(labels) <= 12 else 90
    ax.set_xticks(range(len(labels)), labels, rotation=rotation, ha="right" if rotation == 35 else "center",
                  fontsize=font + 1)
    ax.set_yticks(range(len(labels)), labels, fontsize=font + 1)
    ax.set(xlabel="Predicted label", ylabel="True label", title=title)
    fig.colorbar(im, ax=ax, fraction=0.04, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return cm


def _pairs_csv(y_true, y_pred, labels: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["actual", "predicted"])
    w.writerows((labels[t], labels[p]) for t, p in zip(np.asarray(y_true).tolist(), np.asarray(y_pred).tolist()))
    return buf.getvalue()


def plot_curves(history: list[dict], title: str, path: Path, metrics=("loss", "accuracy")) -> None:
    epochs = [h["epoch"] for h in history]
    plt = _pyplot()
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

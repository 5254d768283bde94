"""One letters run trained and scored: what the train, evaluate and seeds stages of a letters task share.

    train_run(cfg, task, feature, variant, seed)   the model of one input kind x encoder, fitted (resumable)
    fit_letters_head(model, train, l2_grid, folds) the letters' own n-gram head, fitted before the network
    test_metrics(task, model, config)              its test scores: both heads, and per source (books, letters)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from rnnlab import device, evaluation, layout, training
from rnnlab import letters as L
from rnnlab.errors import RnnlabError


@dataclass
class Trained:
    model: L.MultiTaskRNN
    result: training.FitResult
    config: dict      # what save_model writes beside the weights
    settings: object  # the task's static or finetuned training settings
    resume: Path      # its resume state: deleted by the caller once the outputs are written
    head_fit: dict | None = None  # fit_letters_head's record, where the letters' head was fitted first


def check_run(cfg, task: str, feature: str, variant: str) -> None:
    if feature not in cfg.features or variant not in cfg.models:
        raise RnnlabError(f"params.yaml: tasks.{task}.features x models has no {feature}-{variant}")


def train_run(cfg, task: str, feature: str, variant: str, seed: int, desc: str) -> Trained:
    """Static kinds: the paragraph's vector as a sequence of length 1; `chars` rows projected first;
    `finetuned`: token ids through the GloVe-initialised embedding layer. With letters_l2, the letters'
    own head on the n-grams is fitted first and frozen (fit_letters_head). Early stopping on the
    validation joint loss, best epoch kept; resumable from .rnnlab/resume/ (keyed by the seed too)."""
    check_run(cfg, task, feature, variant)
    training.seed_everything(seed)
    info = L.corpus_info(task)
    authors, langs = info["authors"], info["langs"]
    t = cfg.finetuned if feature == "finetuned" else cfg.static
    project = t.project if feature == "chars" else None  # only sparse rows are projected first
    train, val = (L.load_data(task, feature, s, authors, langs, cfg.finetuned.max_len, weights=t) for s in ("train", "val"))
    folder = L.features_dir(task, feature)
    if feature == "finetuned":
        matrix = np.load(folder / "matrix.npy")
        model = L.MultiTaskRNN(matrix.shape[1], variant, len(authors), len(langs), t.hidden, t.dropout,
                               embedding=matrix, input_mode=cfg.finetuned.input, letters_head=t.letters_head)
        inputs, input_dim, vocab_size = [folder / "matrix.npy", folder / "vocab.json"], matrix.shape[1], len(matrix)
    else:
        inputs = [f for f in sorted(folder.glob("*.npy")) if f.name.split(".")[0] in ("train", "val")]
        input_dim, vocab_size = train.x.shape[1], 0
        model = L.MultiTaskRNN(input_dim, variant, len(authors), len(langs), t.hidden, t.dropout,
                               project=project, letters_head=t.letters_head)
    head_fit = None
    if project is not None and t.letters_l2:  # fitted now, frozen while the network trains
        head_fit = fit_letters_head(model, train, t.letters_l2, t.letters_folds)
    model = device.to(model)
    name = L.run_name(feature, variant)
    inputs += [layout.prepared(task) / f"{s}.csv" for s in ("train", "val")]
    resume = training.resume_path(task, name, {"seed": seed, "train": t.model_dump(), "run": name,
                                  "authors": authors, "langs": langs}, inputs)
    result = L.fit(model, train, val, lr=t.lr, batch_size=t.batch, max_epochs=t.max_epochs, patience=t.patience,
                   seed=seed, resume=resume, desc=desc, letters_lr=t.letters_lr)
    config = {"kind": "letters", "task": task, "feature": feature, "variant": variant,
              "finetuned": feature == "finetuned", "input_dim": int(input_dim), "vocab_size": int(vocab_size),
              "authors": authors, "langs": langs, "hidden": t.hidden, "dropout": t.dropout,
              "max_len": cfg.finetuned.max_len if feature == "finetuned" else 1,
              "input_mode": cfg.finetuned.input if feature == "finetuned" else "padded", "project": project,
              "letters_head": t.letters_head}
    return Trained(model, result, config, t, resume, head_fit)


def fit_letters_head(model: L.MultiTaskRNN, train: L.Data, l2_grid: list[float], folds: int) -> dict:
    """Fit the letters' own head on sparse rows before the network trains, then freeze it: an
    L2-regularised multinomial logistic regression on the training letters' n-grams (convex: one
    optimum, whatever the seed or encoder), its strength the l2_grid value with the best accuracy in
    `folds`-fold cross-validation on those letters (the first of equals: the strongest)."""
    rows = np.flatnonzero(train.letter.astype(bool) & (train.author != L.NO_AUTHOR))
    x, y = train.x[rows], train.author[rows]
    n_authors = model.author_head.out_features
    cv = {l2: _cv_accuracy(x, y, n_authors, l2, folds) for l2 in l2_grid}
    best = max(l2_grid, key=lambda l2: cv[l2])  # max keeps the first of equals
    head = model.letters_head.weight
    with torch.no_grad():
        head.copy_(_logistic(x, y, n_authors, best).to(head.device))
    head.requires_grad_(False)
    return {"letters": len(rows), "l2": best, "folds": folds, "cv_accuracy": {str(k): round(v, 6) for k, v in cv.items()}}


def _cv_accuracy(x, y: np.ndarray, n_classes: int, l2: float, folds: int) -> float:
    from sklearn.model_selection import StratifiedKFold

    hits = 0
    for fit_rows, held in StratifiedKFold(folds).split(np.zeros(len(y)), y):  # unshuffled: no seed in the choice
        weight = _logistic(x[fit_rows], y[fit_rows], n_classes, l2)
        hits += int((_logits(_bag(x[held]), weight).argmax(1).numpy() == y[held]).sum())
    return hits / len(y)


def _logistic(x, y: np.ndarray, n_classes: int, l2: float) -> torch.Tensor:
    """[n_features, n_classes] weights minimising mean cross-entropy + l2/2 |W|^2 (no intercept: the
    1-character n-grams play its part), by full-batch L-BFGS from zero."""
    weight = torch.zeros(x.shape[1], n_classes, requires_grad=True)
    target = torch.from_numpy(np.asarray(y, dtype=np.int64))
    bag = _bag(x)  # once: L-BFGS calls the closure up to max_iter times
    lbfgs = torch.optim.LBFGS([weight], lr=1, max_iter=500, tolerance_grad=1e-6, tolerance_change=1e-9,
                              history_size=20, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        lbfgs.zero_grad()
        value = nn.functional.cross_entropy(_logits(bag, weight), target) + 0.5 * l2 * (weight * weight).sum()
        value.backward()
        return value

    lbfgs.step(loss)
    return weight.detach()


def _bag(x) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CSR rows as embedding_bag's (indices, offsets, per-sample weights)."""
    return (torch.from_numpy(x.indices.astype(np.int64)), torch.from_numpy(x.indptr[:-1].astype(np.int64)),
            torch.from_numpy(x.data))


def _logits(bag: tuple, weight: torch.Tensor) -> torch.Tensor:
    """The rows' n-gram weights summed: x @ weight without densifying x."""
    indices, offsets, values = bag
    return nn.functional.embedding_bag(indices, weight, offsets, mode="sum", per_sample_weights=values)


@dataclass
class Scored:
    metrics: dict           # the evaluate stage's metrics file, less what names the run
    author: tuple           # (actual, predicted) author ids of the rows with an author class
    lang: tuple             # (actual, predicted) language ids of every row


def test_metrics(task: str, model: L.MultiTaskRNN, config: dict) -> Scored:
    """Author head on the rows by its authors, language head on every row; each also per source
    (gutenberg: book paragraphs, letters: the real letters), the two headline scores apart."""
    authors, langs = config["authors"], config["langs"]
    test = L.load_data(task, config["feature"], "test", authors, langs, config["max_len"])
    source = pd.read_csv(layout.prepared(task) / "test.csv", keep_default_na=False)["source"].to_numpy()
    pa, pl = L.predict(model, test)
    ya, yl = pa.argmax(1), pl.argmax(1)
    known = test.author != L.NO_AUTHOR
    author = evaluation.report(test.author[known], ya[known], authors)
    lang = evaluation.report(test.lang, yl, langs)
    by_source = {}
    for s in sorted(set(source)):
        rows, k = source == s, (source == s) & known
        by_source[s] = {"rows": int(rows.sum()), "author_rows": int(k.sum()),
                        "author_accuracy": round(float((ya[k] == test.author[k]).mean()), 6) if k.any() else None,
                        "author_macro_f1": (evaluation.report(test.author[k], ya[k], authors)["macro_avg"]["f1_score"]
                                            if k.any() else None),
                        "lang_accuracy": round(float((yl[rows] == test.lang[rows]).mean()), 6)}
    metrics = {"author_accuracy": author["accuracy"], "author_macro_f1": author["macro_avg"]["f1_score"],
               "lang_accuracy": lang["accuracy"], "lang_macro_f1": lang["macro_avg"]["f1_score"],
               # the two headline scores: book paragraphs and the real letters, apart
               "books_author_macro_f1": by_source.get("gutenberg", {}).get("author_macro_f1"),
               "letters_author_accuracy": by_source.get("letters", {}).get("author_accuracy"),
               "author": author, "lang": lang, "by_source": by_source}
    return Scored(metrics, (test.author[known], ya[known]), (test.lang, yl))

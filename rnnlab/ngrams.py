"""The linear reference a recurrent classifier must beat: NB-LR (Wang & Manning 2012, "Baselines and
Bigrams"), a logistic regression on binary word n-gram presence, each n-gram scaled by its naive-Bayes
log-count ratio. On IMDB it is a strong baseline (about 0.91 in the paper); it reads the same tokens as the
recurrent models (rnnlab/vocab.py's tokenizer, the task's vocab settings).

More than two classes: one such model per class against the rest, the class with the highest score wins."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix, diags
from scipy.special import expit, softmax

RUN_NAME = "baseline"  # its files beside the runs': metrics/<task>/baseline.json, plots/<task>/baseline/


def features(train: list[str], others: list[list[str]], tokenize, ngrams: tuple[int, int], min_df: int):
    """Binary n-gram presence of the training texts and of each other split, on the training n-grams."""
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None, ngram_range=ngrams,
                          min_df=min_df, binary=True, dtype=np.float64)
    return vec.fit_transform(train), [vec.transform(texts) for texts in others]


def log_count_ratio(x: csr_matrix, positive: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """log((p / |p|_1) / (q / |q|_1)) with p, q the smoothed n-gram counts of the positive and other rows."""
    p = alpha + np.asarray(x[positive].sum(0)).ravel()
    q = alpha + np.asarray(x[~positive].sum(0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


def fit_scores(x: csr_matrix, y: np.ndarray, n_classes: int, c: float, others: list[csr_matrix]) -> list[np.ndarray]:
    """Class probabilities of each other split: [rows, n_classes]."""
    from sklearn.linear_model import LogisticRegression

    targets = [1] if n_classes == 2 else range(n_classes)  # two classes: one model, the classic NB-LR
    scores = [np.zeros((m.shape[0], len(targets))) for m in others]
    for j, k in enumerate(targets):
        r = diags(log_count_ratio(x, y == k))
        model = LogisticRegression(C=c, max_iter=5000).fit(x @ r, (y == k).astype(int))
        for s, m in zip(scores, others):
            s[:, j] = model.decision_function(m @ r)
    if n_classes == 2:  # the positive class's logistic probability, and its complement
        return [np.column_stack([expit(-s[:, 0]), expit(s[:, 0])]) for s in scores]
    return [softmax(s, axis=1) for s in scores]

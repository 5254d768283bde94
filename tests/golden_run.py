"""A short, real training run whose bits tests/test_golden.py compares with the committed ones.

python tests/golden_run.py MIRROR THREADS  ->  JSON {model: sha256 of its weights and of its history}

Every kernel family a stage uses is in it: nn.LSTM (MKL once oneDNN is off), the fused GRU with
its C++ step loops, Conv1d (cnn-lstm), attention pooling, Adam, and scikit-learn's logistic
regression on TF-IDF (OpenBLAS), a TF-IDF vocabulary cut among equal counts (numpy's SIMD sort),
on the first 600 messages of the real SMS corpus.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

import rnnlab  # noqa: F401 - first: it pins the kernels before numpy and torch load (rnnlab/determinism.py)
from rnnlab import determinism, training
from rnnlab.models import RecurrentClassifier
from rnnlab.vocab import Vocabulary

ROWS, VARIANTS = 600, ("lstm", "gru", "cnn-lstm", "bilstm-attn")
TFIDF_CUT = 500  # of ~1,700 terms: hundreds of them occur once or twice, so the cut falls among ties


def _digest(obj) -> str:
    return hashlib.sha256(obj if isinstance(obj, bytes) else json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _weights(model) -> str:
    return _digest(b"".join(k.encode() + v.detach().contiguous().numpy().tobytes() for k, v in model.state_dict().items()))


def main(mirror: Path, threads: int) -> dict:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    determinism.use_threads(threads)
    with open(mirror / "sms_spam" / "SMSSpamCollection", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:ROWS]
    texts, labels = [r[1] for r in rows], [int(r[0] == "spam") for r in rows]
    cut = ROWS * 4 // 5
    vocab = Vocabulary.build(texts[:cut])
    seqs = [vocab.encode(t, 40) for t in texts]
    train, val = training.Split(seqs[:cut], labels[:cut]), training.Split(seqs[cut:], labels[cut:])
    out = {}
    for variant in VARIANTS:
        training.seed_everything(42)
        embedding = np.random.default_rng(42).normal(0, 0.6, (len(vocab), 32)).astype(np.float32)
        model = RecurrentClassifier(embedding, variant, 2, hidden=32, conv_channels=16, conv_kernel=3)
        fit = training.fit(model, train, val, lr=3e-3, batch_size=64, max_epochs=2, patience=5, seed=42, desc=variant)
        out[variant] = {"weights": _weights(model), "history": _digest(fit.history)}
    tfidf = TfidfVectorizer().fit(texts[:cut])
    lr = LogisticRegression(max_iter=500).fit(tfidf.transform(texts[:cut]), labels[:cut])
    out["tfidf-logreg"] = {"weights": _digest(lr.coef_.tobytes() + lr.intercept_.tobytes()),
                           "history": _digest(lr.predict_proba(tfidf.transform(texts[cut:])).tobytes())}
    # a vocabulary cut at max_features: equal counts at the cut are ordered by numpy's (unstable) SIMD sort
    cut_vocabulary = TfidfVectorizer(max_features=TFIDF_CUT).fit(texts[:cut]).vocabulary_
    out["tfidf-cut"] = {"weights": _digest(sorted(cut_vocabulary)), "history": _digest(len(cut_vocabulary))}
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2])), sort_keys=True))

"""Author + language of a paragraph, two heads on one recurrent encoder (deck 000, "Letter Dataset").

    paragraphs(...)            the 13 Gutenberg books and the real letter sample as one table
    split_paragraphs(...)      train / val / test with no paragraph text in two splits; whole runs of a
                               book's paragraphs (blocks) or single paragraphs go to val and test
    tfidf / chars / word2vec_mean / glove_mean / sbert_vectors / finetune_vocab    the inputs
    MultiTaskRNN               static vector (a sequence of length 1), sparse n-gram vector (projected
                               first) or token ids -> (author, language) logits
    fit / predict              joint loss (weighted author CE + language CE) with early stopping, via
                               training.fit_loop

Author classes are the deck's seven (params `letters.authors`); paragraphs by anyone else (Daudet,
Manzoni: the French and Italian books) carry author target -1: their author loss is masked, they
train the language head and the shared encoder only, and they are left out of the author metrics.
"""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from rnnlab import catalog, corpora, device, layout, modeldir, training
from rnnlab.errors import RnnlabError
from rnnlab.models import SequenceEncoder
from rnnlab.vocab import Vocabulary, tokenize

SPLITS = ("train", "val", "test")
NO_AUTHOR = -1  # author target of a paragraph whose author is not one of the author head's classes

# Gutenberg front/back matter that survives the PG header cut (often English, whatever the book's language)
BOILERPLATE = re.compile(r"project gutenberg|gutenberg projekt|gutenberg\.org|gutenberg2000|distributed proofread"
                         r"|proofreading team|\betexte?s?\b|michael s\. hart|^produced by\b|^\[illustration"
                         r"|transcriber|https?://|www\.|drugulin", re.I)


# ---------------------------------------------------------------- data

def dedup_key(text: str) -> str:
    """Identity of a paragraph for de-duplication: case, punctuation and spacing ignored."""
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def read_books(raw_dir: Path) -> tuple[pd.DataFrame, dict]:
    """The Gutenberg books with the catalog's parser but without its 200-character minimum.

    That default keeps 12 of the ~220 paragraphs of Busch's *Max und Moritz* (and few lines of the
    plays); the length filter here is `min_words`, applied to every source alike.
    """
    source = json.loads((raw_dir / "source.json").read_text(encoding="utf-8"))
    spec = catalog.entry(source["corpus"]).parser_of(source["source"])
    if spec["format"] != "gutenberg":
        return corpora.load_table(raw_dir)
    df = corpora.READERS["gutenberg"](raw_dir, {**spec, "min_chars": 0})
    df = df.reset_index(drop=True)
    df["id"] = [f"{source['corpus']}:{i}" for i in range(len(df))]
    return df, source


def paragraphs(books_dir: Path, letters_dir: Path, lang_map: dict[str, str], min_words: int) -> tuple[pd.DataFrame, dict]:
    """One table: id, text, author, lang, source (gutenberg|letters), book, given_split (letters only)."""
    books, books_src = read_books(books_dir)
    letters, letters_src = corpora.load_table(letters_dir)
    parts = [
        pd.DataFrame({"id": books["id"], "text": books["text"], "author": books["label"], "lang": books["lang"],
                      "source": "gutenberg", "book": books["book"].astype(str), "given_split": ""}),
        pd.DataFrame({"id": letters["id"], "text": letters["text"], "author": letters["label"],
                      "lang": letters["lang"], "source": "letters", "book": "letters", "given_split": letters["split"]}),
    ]
    df = pd.concat(parts, ignore_index=True)
    df["text"] = df["text"].astype(str).str.replace(r"\s+", " ", regex=True).str.strip()
    df["lang"] = df["lang"].astype(str).map(lambda l: lang_map.get(l, l))
    stats = {"read": {"gutenberg": len(books), "letters": len(letters)}}
    boiler = (df["source"] == "gutenberg") & df["text"].str.contains(BOILERPLATE)
    short = df["text"].str.split().str.len() < min_words
    stats["dropped_boilerplate"], stats["dropped_short"] = int(boiler.sum()), int((short & ~boiler).sum())
    df = df[~boiler & ~short].reset_index(drop=True)
    return df, {"books": books_src, "letters": letters_src, "stats": stats}


def split_paragraphs(df: pd.DataFrame, *, val: float, test: float, max_per_book: int | None, seed: int,
                     blocks: int | None = None) -> tuple[dict[str, pd.DataFrame], dict]:
    """Split stratified by book (so by author); no paragraph text in two splits.

    Gutenberg: duplicates dropped, at most max_per_book paragraphs per book, then test / val /
    train fractions within every book: whole blocks of consecutive paragraphs (`blocks` per book,
    see book_blocks) or, without blocks, single paragraphs at random. Letters keep their own train /
    test split; val is taken from their train part. Finally any train or val paragraph whose text
    (dedup_key) also occurs in a later split is removed: test wins over val wins over train.
    """
    from sklearn.model_selection import train_test_split  # slow import, only here

    df = df.assign(key=df["text"].map(dedup_key))
    stats = {}
    books = df[df["source"] == "gutenberg"]
    before = len(books)
    books = books.drop_duplicates("key")
    stats["dropped_duplicates_within_books"] = before - len(books)
    stats["capped_to"], stats["blocks"] = max_per_book, blocks
    if blocks:
        b_train, b_val, b_test = book_blocks(books, blocks=blocks, val=val, test=test, max_per_book=max_per_book,
                                             seed=seed)
    else:
        if max_per_book:
            books = pd.concat([g.sample(n=min(len(g), max_per_book), random_state=seed)
                               for _, g in books.groupby("book", sort=True)])
        rest, b_test = train_test_split(books, test_size=test, stratify=books["book"], random_state=seed)
        b_train, b_val = train_test_split(rest, test_size=val / (1 - test), stratify=rest["book"], random_state=seed)

    letters = df[df["source"] == "letters"]
    l_test = letters[letters["given_split"] == "test"]
    l_rest = letters[letters["given_split"] != "test"]
    l_train, l_val = train_test_split(l_rest, test_size=val / (1 - test), stratify=l_rest["author"], random_state=seed)

    parts = {"train": pd.concat([b_train, l_train]), "val": pd.concat([b_val, l_val]),
             "test": pd.concat([b_test, l_test])}
    # test wins: drop later copies inside a split, then anything seen in a later split
    seen: set[str] = set()
    removed = {}
    for name in ("test", "val", "train"):
        part = parts[name].drop_duplicates("key")
        keep = part[~part["key"].isin(seen)]
        removed[name] = len(parts[name]) - len(keep)
        seen |= set(keep["key"])
        parts[name] = keep
    stats["dropped_cross_split_duplicates"] = removed
    out = {k: v.sort_values("id", key=_id_order).drop(columns=["key", "given_split"]).reset_index(drop=True)
           for k, v in parts.items()}
    return out, stats


def book_blocks(books: pd.DataFrame, *, blocks: int, val: float, test: float, max_per_book: int | None, seed: int
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, val, test): each book in reading order, cut into `blocks` runs of consecutive paragraphs;
    a seeded draw sends round(test * blocks) runs to test and round(val * blocks) to val (at least one
    each). A capped book keeps max_per_book paragraphs evenly spaced through it, so every part of the
    book still has its share."""
    n_test, n_val = max(1, round(test * blocks)), max(1, round(val * blocks))
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    for _, book in books.groupby("book", sort=True):
        book = book.sort_values("id", key=_id_order)
        if max_per_book and len(book) > max_per_book:
            book = book.iloc[np.linspace(0, len(book) - 1, max_per_book).round().astype(int)]
        runs = np.array_split(np.arange(len(book)), blocks)
        for rank, run in enumerate(rng.permutation(blocks)):
            name = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            parts[name].append(book.iloc[runs[run]])
    return pd.concat(parts["train"]), pd.concat(parts["val"]), pd.concat(parts["test"])


def _id_order(ids: pd.Series) -> pd.Series:
    """'corpus:12' sorts by corpus, then numerically."""
    return ids.map(lambda s: (s.rsplit(":", 1)[0], int(s.rsplit(":", 1)[1]))).map(lambda t: f"{t[0]}:{t[1]:08d}")


def targets(df: pd.DataFrame, authors: list[str], langs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    a = {n: i for i, n in enumerate(authors)}
    l = {n: i for i, n in enumerate(langs)}
    unknown = sorted(set(df["lang"]) - set(l))
    if unknown:
        raise RnnlabError(f"letters: language(s) {unknown} not among the language head's classes {langs}")
    return (df["author"].map(lambda n: a.get(n, NO_AUTHOR)).to_numpy(np.int64),
            df["lang"].map(l).to_numpy(np.int64))


def row_weights(author: np.ndarray, letter: np.ndarray, n_authors: int, class_weight: str,
                letters_weight: float) -> np.ndarray:
    """Each row's weight in the author loss: the author's balanced weight (n / (classes * rows of that
    author), from these rows) times letters_weight for a real letter; 0 where there is no author."""
    known = author != NO_AUTHOR
    w = np.where(letter, letters_weight, 1.0)
    if class_weight == "balanced":
        counts = np.bincount(author[known], minlength=n_authors).astype(np.float64)
        w = w * np.where(known, known.sum() / (n_authors * np.maximum(counts, 1))[np.where(known, author, 0)], 0.0)
    return np.where(known, w, 0.0).astype(np.float32)


# ---------------------------------------------------------------- static sentence vectors

def tfidf(train: list[str], others: list[list[str]], max_features: int):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(max_features=max_features, dtype=np.float32)
    out = [vec.fit_transform(train).toarray()] + [vec.transform(t).toarray() for t in others]
    return out, {"dim": len(vec.vocabulary_), "max_features": max_features}


def chars(train: list[str], others: list[list[str]], cfg):
    """Character n-grams (cfg.analyzer: across or within word bounds), TF-IDF with sublinear tf: sparse
    rows, fitted on train."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer=cfg.analyzer, ngram_range=tuple(cfg.ngrams), max_features=cfg.max_features,
                          min_df=cfg.min_df, sublinear_tf=cfg.sublinear_tf, dtype=np.float32)
    out = [vec.fit_transform(train)] + [vec.transform(t) for t in others]
    return out, {"dim": len(vec.vocabulary_), **cfg.model_dump(), "sparse": True}


SPARSE_PARTS = ("data", "indices", "indptr")


def save_sparse(out: Path, split: str, matrix) -> None:
    """A CSR matrix as three .npy files (np.savez stamps the time into its zip: not byte-reproducible)."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    for part in SPARSE_PARTS:
        np.save(out / f"{split}.{part}.npy", getattr(matrix, part))


def load_sparse(folder: Path, split: str, dim: int):
    import scipy.sparse as sp

    data, indices, indptr = (np.load(folder / f"{split}.{part}.npy") for part in SPARSE_PARTS)
    return sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, dim))


def _mean_vectors(texts: list[str], index: dict[str, int], vectors: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean of the known tokens' vectors (zeros when none is known); share of tokens found."""
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    found = total = 0
    for i, text in enumerate(texts):
        tokens = tokenize(text)
        rows = [index[t] for t in tokens if t in index]
        total, found = total + len(tokens), found + len(rows)
        if rows:
            out[i] = np.asarray(vectors[rows], dtype=np.float32).mean(0)
    return out, found / max(total, 1)


def word2vec_mean(train: list[str], others: list[list[str]], cfg, seed: int):
    """word2vec trained on the training paragraphs only; each paragraph -> the mean of its word vectors."""
    from gensim.models import Word2Vec

    from rnnlab.embeddings import _stable_hash

    model = Word2Vec([tokenize(t) for t in train], vector_size=cfg.dim, window=cfg.window, min_count=cfg.min_count,
                     epochs=cfg.epochs, workers=1, seed=seed, hashfxn=_stable_hash)
    index = {w: i for i, w in enumerate(model.wv.index_to_key)}
    out, cover = zip(*(_mean_vectors(t, index, model.wv.vectors) for t in [train, *others]))
    return list(out), {"dim": cfg.dim, "words": len(index), "token_coverage": [round(c, 4) for c in cover]}


def glove_mean(train: list[str], others: list[list[str]], raw_dir: Path):
    """Each paragraph -> the mean GloVe vector of its (lowercased) tokens; zeros if none is in GloVe."""
    from rnnlab.embeddings import read_vectors

    index, vectors = read_vectors(raw_dir)
    out, cover = zip(*(_mean_vectors(t, index, vectors) for t in [train, *others]))
    return list(out), {"dim": int(vectors.shape[1]), "token_coverage": [round(c, 4) for c in cover]}


def sbert_vectors(train: list[str], others: list[list[str]], model_dir: Path, batch_size: int, max_tokens: int):
    from rnnlab import sbert

    out = [sbert.encode(t, model_dir, batch_size=batch_size, max_tokens=max_tokens) for t in [train, *others]]
    return out, {"dim": int(out[0].shape[1]), "max_tokens": max_tokens}


def finetune_vocab(train: list[str], raw_dir: Path, cfg, seed: int) -> tuple[Vocabulary, np.ndarray, dict]:
    """Vocabulary of the training paragraphs; embedding rows from GloVe, unseen words ~ N(0, oov_scale)."""
    from rnnlab.embeddings import pretrained

    v = cfg.vocab
    vocab = Vocabulary.build(train, min_freq=v.min_freq, max_size=v.max_size, lowercase=v.lowercase, digits=v.digits)
    matrix, info = pretrained(vocab, raw_dir, seed, cfg.oov_scale)
    return vocab, matrix, info


# ---------------------------------------------------------------- model

class MultiTaskRNN(nn.Module):
    """Shared recurrent encoder (none for `linear`), dropout, and two linear heads (author, language).

    Static inputs ([B, D] sentence vectors) run as sequences of length 1, as in the deck. A sparse
    input (n-gram counts, a torch CSR batch) is first projected to `project` dimensions by an
    EmbeddingBag (a linear map that touches only the row's non-zeros). With an `embedding` matrix the
    input is token ids [B, T] and the embedding layer is fine-tuned. Real letters' author logits
    (letters_head): the shared head's (none), plus a letters-only head's (add: the letters' correction
    to the books' model), or the letters-only head's alone (own). On sparse input that head reads the
    n-grams themselves, not the projection the books shape: on this corpus a linear model of the 159
    training letters' n-grams scores the test letters better than any model the books shape.
    """

    def __init__(self, input_dim: int, variant: str, n_authors: int, n_langs: int, hidden: int = 128,
                 dropout: float = 0.5, embedding: np.ndarray | None = None, input_mode: str = "packed",
                 project: int | None = None, letters_head: str = "none"):
        super().__init__()
        self.embedding = self.project = None
        n_features = input_dim  # of a sparse input, before the projection
        if embedding is not None:
            self.embedding = nn.Embedding.from_pretrained(torch.as_tensor(embedding), freeze=False, padding_idx=0)
            input_dim = embedding.shape[1]
        elif project:
            self.project = nn.EmbeddingBag(input_dim, project, mode="sum")
            nn.init.normal_(self.project.weight, std=1.0 / project ** 0.5)  # unit-norm rows in -> small inputs out
            input_dim = project
        self.encoder = None  # linear: the heads read the input (a token sequence: its mean embedding)
        if variant != "linear":
            self.encoder = SequenceEncoder(input_dim, variant, hidden, 1, dropout,
                                           input_mode if embedding is not None else "padded")
        width = self.encoder.out_dim if self.encoder is not None else input_dim
        self.dropout = nn.Dropout(dropout)
        self.author_head = nn.Linear(width, n_authors)
        self.lang_head = nn.Linear(width, n_langs)
        self.letters_mode, self.letters_head = letters_head, None
        if letters_head != "none":
            self.letters_head = (nn.EmbeddingBag(n_features, n_authors, mode="sum") if self.project is not None
                                 else nn.Linear(width, n_authors))
            if self.project is not None:
                nn.init.zeros_(self.letters_head.weight)  # starts as no correction

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                letter: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """letter: 1 for a real letter's row (None: every row is scored as a book paragraph)."""
        sparse = x
        if self.embedding is not None:
            x = self.embedding(x)
        else:
            if self.project is not None:
                x = self.project(x.indices, x.offsets, per_sample_weights=x.values)
            x, lengths = x.unsqueeze(1), torch.ones(len(x), dtype=torch.long, device=x.device)
        h = self.dropout(self.encoder(x, lengths) if self.encoder is not None else _mean(x, lengths))
        author = self.author_head(h)
        if self.letters_head is not None and letter is not None:
            correction = (self.letters_head(sparse.indices, sparse.offsets, per_sample_weights=sparse.values)
                          if self.project is not None else self.letters_head(h))
            is_letter = letter.unsqueeze(1).to(torch.bool)
            author = torch.where(is_letter, correction if self.letters_mode == "own" else author + correction, author)
        return author, self.lang_head(h)


def _mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """[B, T, D] -> [B, D]: the mean over each sequence's real steps."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
    return (x * steps.unsqueeze(2)).sum(1) / lengths.to(x.device).clamp_min(1).unsqueeze(1).to(x.dtype)


def joint_loss(author_logits, lang_logits, author, lang, weight=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(author CE + language CE, author CE, language CE); author CE over the rows with an author,
    weighted per row (row_weights; None: a plain mean), language CE the plain mean."""
    known = author != NO_AUTHOR
    if weight is None:
        weight = known.to(author_logits.dtype)
    if known.any():
        ce = nn.functional.cross_entropy(author_logits[known], author[known], reduction="none")
        a = (ce * weight[known]).sum() / weight[known].sum()
    else:
        a = author_logits.sum() * 0.0
    l = nn.functional.cross_entropy(lang_logits, lang)
    return a + l, a, l


class SparseRows(typing.NamedTuple):
    """A batch of sparse rows as nn.EmbeddingBag takes them: column indices, each row's first position, values."""
    indices: torch.Tensor
    offsets: torch.Tensor
    values: torch.Tensor

    def to(self, where) -> "SparseRows":
        return SparseRows(*(t.to(where) for t in self))

    def __len__(self) -> int:
        return len(self.offsets)


@dataclass
class Data:
    """One split: static vectors [n, D] (float32), a sparse CSR matrix [n, D] or token-id lists; targets;
    which rows are real letters (None: none is, as when serving); each row's weight in the author
    loss (row_weights; None: 1 where the row has an author)."""
    x: object
    author: np.ndarray
    lang: np.ndarray
    letter: np.ndarray | None = None
    weight: np.ndarray | None = None

    def __post_init__(self):  # writable copies torch can wrap (pandas hands out read-only views)
        self.author, self.lang = np.array(self.author, dtype=np.int64), np.array(self.lang, dtype=np.int64)
        self.letter = np.zeros(len(self.author), np.int64) if self.letter is None else np.array(self.letter, np.int64)
        if self.weight is None:
            self.weight = (self.author != NO_AUTHOR).astype(np.float32)
        self.weight = np.array(self.weight, dtype=np.float32)

    @property
    def sequences(self) -> bool:
        return isinstance(self.x, list)

    def __len__(self) -> int:
        return len(self.author)

    def _inputs(self, idx: torch.Tensor):
        if self.sequences:
            from rnnlab.batching import pad

            return pad([self.x[i] for i in idx.tolist()])
        if isinstance(self.x, np.ndarray):
            return torch.as_tensor(self.x[idx.numpy()]), None
        rows = self.x[idx.numpy()]  # scipy CSR
        return SparseRows(torch.from_numpy(rows.indices.astype(np.int64)),
                          torch.from_numpy(rows.indptr[:-1].astype(np.int64)), torch.from_numpy(rows.data)), None

    def batches(self, batch_size: int, generator: torch.Generator | None = None):
        """(x, lengths, author, lang, letter, weight) batches; shuffled with a generator, in order without."""
        order = torch.randperm(len(self), generator=generator) if generator is not None else torch.arange(len(self))
        a, l = torch.from_numpy(self.author), torch.from_numpy(self.lang)
        d, w = torch.from_numpy(self.letter), torch.from_numpy(self.weight)
        for idx in torch.split(order, batch_size):
            yield *self._inputs(idx), a[idx], l[idx], d[idx], w[idx]


@torch.no_grad()
def predict(model: MultiTaskRNN, data: Data, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(author probabilities, language probabilities) in input order; letters scored as letters."""
    model.eval()
    pa, pl = [], []
    for x, n, _, _, d, _ in data.batches(batch_size):
        a, l = model(*device.to(x, n, d))
        pa.append(torch.softmax(a, 1).cpu())
        pl.append(torch.softmax(l, 1).cpu())
    return torch.cat(pa).numpy(), torch.cat(pl).numpy()


def _scores(pa: np.ndarray, pl: np.ndarray, data: Data) -> dict:
    known = data.author != NO_AUTHOR
    letters = known & (data.letter == 1)
    a = torch.as_tensor(pa).clamp_min(1e-12).log()
    l = torch.as_tensor(pl).clamp_min(1e-12).log()
    la = 0.0
    if known.any():
        nll = nn.functional.nll_loss(a[known], torch.as_tensor(data.author[known]), reduction="none")
        w = torch.as_tensor(data.weight[known])
        la = float((nll * w).sum() / w.sum())
    ll = float(nn.functional.nll_loss(l, torch.as_tensor(data.lang)))
    hit = pa.argmax(1) == data.author
    return {"loss": la + ll, "author_loss": la, "lang_loss": ll,
            "author_accuracy": float(hit[known].mean()) if known.any() else 0.0,
            "letters_author_accuracy": float(hit[letters].mean()) if letters.any() else 0.0,
            "lang_accuracy": float((pl.argmax(1) == data.lang).mean())}


def fit(model: MultiTaskRNN, train: Data, val: Data, *, lr: float, batch_size: int, max_epochs: int, patience: int,
        seed: int, resume: Path | None = None, desc: str = "letters", letters_lr: float | None = None
        ) -> training.FitResult:
    """Adam on the joint loss; early stopping on the validation joint loss, best weights kept; resumable.
    letters_lr: the letters head's learning rate (it learns from a few rows per batch)."""
    optimizer = training.adam(_param_groups(model, lr, letters_lr), lr)
    shuffle = torch.Generator().manual_seed(seed)

    def train_epoch() -> dict:
        seen = total_a = total_l = weights = 0.0
        correct_a = known = correct_l = 0
        tokens = 0
        for x, n, a, l, d, w in train.batches(batch_size, shuffle):
            x, n, a, l, d, w = device.to(x, n, a, l, d, w)
            optimizer.zero_grad()
            la_logits, ll_logits = model(x, n, d)
            loss, loss_a, loss_l = joint_loss(la_logits, ll_logits, a, l, w)
            loss.backward()
            optimizer.step()
            k = a != NO_AUTHOR
            seen += len(a)
            weights += float(w.sum())
            total_a += loss_a.item() * float(w.sum())  # the batch's weighted mean, weighed back to a sum
            total_l += loss_l.item() * len(a)
            known += int(k.sum())
            correct_a += int((la_logits.argmax(1)[k] == a[k]).sum())
            correct_l += int((ll_logits.argmax(1) == l).sum())
            tokens += int(n.sum()) if n is not None else len(a)
        return {"train_loss": total_a / max(weights, 1e-12) + total_l / seen, "train_author_accuracy": correct_a / max(known, 1),
                "train_lang_accuracy": correct_l / seen, "tokens": tokens}

    def validate() -> dict:
        s = _scores(*predict(model, val), val)
        model.train()
        return {f"val_{k}": v for k, v in s.items()}

    return training.fit_loop(model, optimizer, train_epoch=train_epoch, validate=validate, monitor="val_loss",
                             max_epochs=max_epochs, patience=patience, shuffle=shuffle, resume=resume, desc=desc)


def _param_groups(model: MultiTaskRNN, lr: float, letters_lr: float | None) -> list[dict]:
    own = list(model.letters_head.parameters()) if model.letters_head is not None and letters_lr else []
    rest = [p for p in model.parameters() if all(p is not q for q in own)]
    return [{"params": rest, "lr": lr}] + ([{"params": own, "lr": letters_lr}] if own else [])


# ---------------------------------------------------------------- files

def features_dir(task: str, kind: str) -> Path:
    return layout.DATA / "features" / task / kind


def corpus_info(task: str) -> dict:
    return json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))


def load_data(task: str, kind: str, split: str, authors: list[str], langs: list[str], max_len: int,
              weights=None) -> Data:
    """A split's targets and inputs: sentence vectors of a static kind, sparse n-gram rows (chars) or
    token ids (finetuned). weights: the training settings whose class_weight and letters_weight
    give the author loss's row weights (None: 1 per row with an author)."""
    df = pd.read_csv(layout.prepared(task) / f"{split}.csv", keep_default_na=False)
    author, lang = targets(df, authors, langs)
    letter = (df["source"] == "letters").to_numpy()
    w = None if weights is None else row_weights(author, letter, len(authors), weights.class_weight,
                                                 weights.letters_weight)
    folder = features_dir(task, kind)
    if kind == "finetuned":
        vocab = Vocabulary.load(folder / "vocab.json")
        return Data([vocab.encode(t, max_len) for t in df["text"]], author, lang, letter, w)
    info = json.loads((folder / "info.json").read_text(encoding="utf-8"))
    x = load_sparse(folder, split, info["dim"]) if info.get("sparse") else np.load(folder / f"{split}.npy")
    if x.shape[0] != len(df):
        raise RnnlabError(f"{folder}/{split}: {x.shape[0]} rows for {len(df)} paragraphs; rerun {task}_features@{kind}")
    return Data(x, author, lang, letter, w)


def run_name(kind: str, variant: str) -> str:
    return f"{kind}-{variant}"


def save_model(model: MultiTaskRNN, config: dict, out: Path) -> None:
    modeldir.save(model, {"kind": "letters", **config}, out)


def load_model(model_dir: Path) -> tuple[MultiTaskRNN, dict]:
    return modeldir.load(model_dir, build_model, "a letters model")


def build_model(config: dict) -> MultiTaskRNN:
    emb = torch.zeros(config["vocab_size"], config["input_dim"]) if config["finetuned"] else None
    return MultiTaskRNN(config["input_dim"], config["variant"], len(config["authors"]), len(config["langs"]),
                        config["hidden"], config["dropout"], embedding=emb, input_mode=config["input_mode"],
                        project=config.get("project"), letters_head=_letters_mode(config.get("letters_head", "none")))


def _letters_mode(saved) -> str:
    """A saved model's letters_head: models saved before the modes wrote true (add) or false (none)."""
    return {True: "add", False: "none"}.get(saved, saved)


def short_name(author: str) -> str:
    """'Johann Wolfgang von Goethe' -> 'Goethe' (confusion-matrix tick labels)."""
    return author.split()[-1]

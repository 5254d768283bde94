"""Author + language of a paragraph, two heads on one recurrent encoder (deck 000, "Letter Dataset").

    paragraphs(...)            the 13 Gutenberg books and the real letter sample as one table
    split_paragraphs(...)      train / val / test with no paragraph text in two splits
    tfidf / word2vec_mean / glove_mean / sbert_vectors / finetune_vocab    the inputs
    MultiTaskRNN               static vector (a sequence of length 1) or token ids -> (author, language) logits
    fit / predict              joint loss (author CE + language CE) with early stopping, via training.fit_loop

Author classes are the deck's seven (params `letters.authors`); paragraphs by anyone else (Daudet,
Manzoni: the French and Italian books) carry author target -1: their author loss is masked, they
train the language head and the shared encoder only, and they are left out of the author metrics.
"""

from __future__ import annotations

import json
import re
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


def split_paragraphs(df: pd.DataFrame, *, val: float, test: float, max_per_book: int | None, seed: int
                     ) -> tuple[dict[str, pd.DataFrame], dict]:
    """Paragraph-level split, stratified by book (so by author); no paragraph text in two splits.

    Gutenberg: duplicates dropped, at most max_per_book paragraphs per book (a seeded sample),
    then test / val / train fractions within every book. Letters keep their own train / test
    split; val is taken from their train part. Finally any train or val paragraph whose text
    (dedup_key) also occurs in a later split is removed: test wins over val wins over train.
    """
    from sklearn.model_selection import train_test_split  # slow import, only here

    df = df.assign(key=df["text"].map(dedup_key))
    stats = {}
    books = df[df["source"] == "gutenberg"]
    before = len(books)
    books = books.drop_duplicates("key")
    stats["dropped_duplicates_within_books"] = before - len(books)
    if max_per_book:
        books = pd.concat([g.sample(n=min(len(g), max_per_book), random_state=seed)
                           for _, g in books.groupby("book", sort=True)])
    stats["capped_to"] = max_per_book
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


# ---------------------------------------------------------------- static sentence vectors

def tfidf(train: list[str], others: list[list[str]], max_features: int):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(max_features=max_features, dtype=np.float32)
    out = [vec.fit_transform(train).toarray()] + [vec.transform(t).toarray() for t in others]
    return out, {"dim": len(vec.vocabulary_), "max_features": max_features}


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

    vocab = Vocabulary.build(train, min_freq=cfg.vocab.min_freq, max_size=cfg.vocab.max_size, lowercase=True)
    matrix, info = pretrained(vocab, raw_dir, seed, cfg.oov_scale)
    return vocab, matrix, info


# ---------------------------------------------------------------- model

class MultiTaskRNN(nn.Module):
    """Shared recurrent encoder, dropout, and two linear heads (author, language).

    Static inputs ([B, D] sentence vectors) run as sequences of length 1, as in the deck; with an
    `embedding` matrix the input is token ids [B, T] and the embedding layer is fine-tuned.
    """

    def __init__(self, input_dim: int, variant: str, n_authors: int, n_langs: int, hidden: int = 128,
                 dropout: float = 0.5, embedding: np.ndarray | None = None, input_mode: str = "packed"):
        super().__init__()
        self.embedding = None
        if embedding is not None:
            self.embedding = nn.Embedding.from_pretrained(torch.as_tensor(embedding), freeze=False, padding_idx=0)
            input_dim = embedding.shape[1]
        self.encoder = SequenceEncoder(input_dim, variant, hidden, 1, dropout,
                                       input_mode if embedding is not None else "padded")
        self.dropout = nn.Dropout(dropout)
        self.author_head = nn.Linear(self.encoder.out_dim, n_authors)
        self.lang_head = nn.Linear(self.encoder.out_dim, n_langs)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.embedding is None:
            x, lengths = x.unsqueeze(1), torch.ones(len(x), dtype=torch.long, device=x.device)
        else:
            x = self.embedding(x)
        h = self.dropout(self.encoder(x, lengths))
        return self.author_head(h), self.lang_head(h)


def joint_loss(author_logits, lang_logits, author, lang) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(author CE + language CE, author CE, language CE); author CE over rows with a known author only."""
    known = author != NO_AUTHOR
    a = (nn.functional.cross_entropy(author_logits[known], author[known]) if known.any()
         else author_logits.sum() * 0.0)
    l = nn.functional.cross_entropy(lang_logits, lang)
    return a + l, a, l


@dataclass
class Data:
    """One split: static vectors [n, D] (float32) or token-id lists; targets."""
    x: np.ndarray | list[list[int]]
    author: np.ndarray
    lang: np.ndarray

    def __post_init__(self):  # writable int64 copies torch can wrap (pandas hands out read-only views)
        self.author, self.lang = np.array(self.author, dtype=np.int64), np.array(self.lang, dtype=np.int64)

    @property
    def sequences(self) -> bool:
        return isinstance(self.x, list)

    def __len__(self) -> int:
        return len(self.author)

    def batches(self, batch_size: int, generator: torch.Generator | None = None):
        """(x, lengths, author, lang) batches; shuffled with a generator, in order without."""
        order = torch.randperm(len(self), generator=generator) if generator is not None else torch.arange(len(self))
        a, l = torch.from_numpy(self.author), torch.from_numpy(self.lang)
        for idx in torch.split(order, batch_size):
            if self.sequences:
                from rnnlab.batching import pad

                x, lengths = pad([self.x[i] for i in idx.tolist()])
            else:
                x, lengths = torch.as_tensor(self.x[idx.numpy()]), None
            yield x, lengths, a[idx], l[idx]


@torch.no_grad()
def predict(model: MultiTaskRNN, data: Data, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(author probabilities, language probabilities) in input order."""
    model.eval()
    pa, pl = [], []
    for x, n, _, _ in data.batches(batch_size):
        a, l = model(*device.to(x, n))
        pa.append(torch.softmax(a, 1).cpu())
        pl.append(torch.softmax(l, 1).cpu())
    return torch.cat(pa).numpy(), torch.cat(pl).numpy()


def _scores(pa: np.ndarray, pl: np.ndarray, data: Data) -> dict:
    known = data.author != NO_AUTHOR
    a = torch.as_tensor(pa).clamp_min(1e-12).log()
    l = torch.as_tensor(pl).clamp_min(1e-12).log()
    la = float(nn.functional.nll_loss(a[known], torch.as_tensor(data.author[known]))) if known.any() else 0.0
    ll = float(nn.functional.nll_loss(l, torch.as_tensor(data.lang)))
    return {"loss": la + ll, "author_loss": la, "lang_loss": ll,
            "author_accuracy": float((pa.argmax(1)[known] == data.author[known]).mean()) if known.any() else 0.0,
            "lang_accuracy": float((pl.argmax(1) == data.lang).mean())}


def fit(model: MultiTaskRNN, train: Data, val: Data, *, lr: float, batch_size: int, max_epochs: int, patience: int,
        seed: int, resume: Path | None = None, desc: str = "letters") -> training.FitResult:
    """Adam on the joint loss; early stopping on the validation joint loss, best weights kept; resumable."""
    optimizer = training.adam(model.parameters(), lr)
    shuffle = torch.Generator().manual_seed(seed)

    def train_epoch() -> dict:
        seen = total = total_a = total_l = 0.0
        correct_a = known = correct_l = 0
        tokens = 0
        for x, n, a, l in train.batches(batch_size, shuffle):
            x, n, a, l = device.to(x, n, a, l)
            optimizer.zero_grad()
            la_logits, ll_logits = model(x, n)
            loss, loss_a, loss_l = joint_loss(la_logits, ll_logits, a, l)
            loss.backward()
            optimizer.step()
            k = a != NO_AUTHOR
            seen += len(a)
            total += loss.item() * len(a)
            total_a += loss_a.item() * int(k.sum())
            total_l += loss_l.item() * len(a)
            known += int(k.sum())
            correct_a += int((la_logits.argmax(1)[k] == a[k]).sum())
            correct_l += int((ll_logits.argmax(1) == l).sum())
            tokens += int(n.sum()) if n is not None else len(a)
        return {"train_loss": total_a / max(known, 1) + total_l / seen, "train_author_accuracy": correct_a / max(known, 1),
                "train_lang_accuracy": correct_l / seen, "tokens": tokens}

    def validate() -> dict:
        s = _scores(*predict(model, val), val)
        model.train()
        return {f"val_{k}": v for k, v in s.items()}

    return training.fit_loop(model, optimizer, train_epoch=train_epoch, validate=validate, monitor="val_loss",
                             max_epochs=max_epochs, patience=patience, shuffle=shuffle, resume=resume, desc=desc)


# ---------------------------------------------------------------- files

def features_dir(task: str, kind: str) -> Path:
    return layout.DATA / "features" / task / kind


def corpus_info(task: str) -> dict:
    return json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))


def load_data(task: str, kind: str, split: str, authors: list[str], langs: list[str], max_len: int) -> Data:
    """A split's targets and inputs: sentence vectors of a static kind, or token ids (finetuned)."""
    df = pd.read_csv(layout.prepared(task) / f"{split}.csv", keep_default_na=False)
    author, lang = targets(df, authors, langs)
    if kind == "finetuned":
        vocab = Vocabulary.load(features_dir(task, kind) / "vocab.json")
        return Data([vocab.encode(t, max_len) for t in df["text"]], author, lang)
    x = np.load(features_dir(task, kind) / f"{split}.npy")
    if len(x) != len(df):
        raise RnnlabError(f"{features_dir(task, kind)}/{split}.npy: {len(x)} rows for {len(df)} paragraphs; "
                          f"rerun {task}_features@{kind}")
    return Data(x, author, lang)


def run_name(kind: str, variant: str) -> str:
    return f"{kind}-{variant}"


def save_model(model: MultiTaskRNN, config: dict, out: Path) -> None:
    modeldir.save(model, {"kind": "letters", **config}, out)


def load_model(model_dir: Path) -> tuple[MultiTaskRNN, dict]:
    return modeldir.load(model_dir, build_model, "a letters model")


def build_model(config: dict) -> MultiTaskRNN:
    emb = torch.zeros(config["vocab_size"], config["input_dim"]) if config["finetuned"] else None
    return MultiTaskRNN(config["input_dim"], config["variant"], len(config["authors"]), len(config["langs"]),
                        config["hidden"], config["dropout"], embedding=emb, input_mode=config["input_mode"])


def short_name(author: str) -> str:
    """'Johann Wolfgang von Goethe' -> 'Goethe' (confusion-matrix tick labels)."""
    return author.split()[-1]

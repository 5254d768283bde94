"""Stage `report`: one markdown table comparing every trained variant, beside the deck's figures."""

from __future__ import annotations

import itertools
import json

from rnnlab import atomic, layout, params as P

# Deck 002 ("Building a Spam Detector", "Using Ragged Tensors"): Keras SimpleRNN(64) on
# spaCy en_core_web_md vectors, 20 epochs, test = 20% of the 5,572 messages.
DECK_SMS = [("deck: SimpleRNN, padded (spaCy 300-d)", 0.95, 0.81, 0.75, 0.78),
            ("deck: SimpleRNN, ragged (spaCy 300-d)", 0.96, 0.86, 0.79, 0.82)]


def _rows(task: str, cfg) -> list[dict]:
    rows = []
    for variant, kind, mode in itertools.product(cfg.models, cfg.embeddings.kinds, cfg.inputs):
        name = layout.run_name(variant, kind, mode)
        m = json.loads(layout.metrics(task, name).read_text(encoding="utf-8"))
        t = json.loads((layout.model_dir(task, name) / "train.json").read_text(encoding="utf-8"))
        rows.append({"variant": variant, "embedding": kind, "input": mode, "m": m, "t": t})
    return sorted(rows, key=lambda r: (-r["m"]["accuracy"], -r["m"]["macro_avg"]["f1_score"], r["variant"]))


def corpus_line(task: str) -> str:
    balance = json.loads((layout.METRICS / task / "balance.json").read_text(encoding="utf-8"))
    corpus = json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))
    return (f"Corpus **{corpus['corpus']}** ({corpus['title']}), from {corpus['source']}"
            + (f" — a stand-in for {corpus['requested']}" if corpus.get("standin_for") else "") + ". "
            f"sha256: {', '.join(f'`{f}` {h[:16]}…' for f, h in corpus['files'].items())}. "
            f"Split: train {balance['train']['rows']}, validation {balance['val']['rows']}, "
            f"test {balance['test']['rows']} (seed {P.load().seed}).")


def runs_table(task: str, cfg, positive: str, extra_rows: list[str] = ()) -> list[str]:
    lines = [f"| variant | embedding | input | accuracy | {positive} precision | {positive} recall | {positive} F1 "
             "| macro F1 | parameters | best / run epochs | train s | tokens/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in _rows(task, cfg):
        m, t, p = r["m"], r["t"], r["m"][positive]
        lines.append(
            f"| {r['variant']} | {r['embedding']} | {r['input']} | {m['accuracy']:.4f} | {p['precision']:.3f} "
            f"| {p['recall']:.3f} | {p['f1_score']:.3f} | {m['macro_avg']['f1_score']:.3f} | {t['parameters']:,} "
            f"| {t['best_epoch']} / {t['epochs_run']} | {t['train_seconds']:.1f} | {t['tokens_per_s']:,.0f} |")
    return lines + list(extra_rows)


def seeds_table(task: str, cfg) -> list[str]:
    """Mean +- sample std over the default seed and the extra seeds (stage `<task>_seeds`)."""
    if not cfg.seed_runs:
        return []
    seeds = [P.load().seed, *cfg.extra_seeds]
    lines = [f"Seed variation (seeds {', '.join(map(str, seeds))}; mean ± sample standard deviation):", "",
             "| run | test accuracy | macro F1 | per seed (accuracy) |", "|---|---|---|---|"]
    for run in cfg.seed_runs:
        s = json.loads((layout.METRICS / task / "seeds" / f"{run}.json").read_text(encoding="utf-8"))
        per = ", ".join(f"{s['per_seed'][str(seed)]['accuracy']:.4f}" for seed in s["seeds"])  # JSON keys are sorted
        lines.append(f"| {run} | {s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f} "
                     f"| {s['macro_f1_mean']:.3f} ± {s['macro_f1_std']:.3f} | {per} |")
    return lines + [""]


def table(task: str, cfg, positive: str) -> str:
    deck = [f"| {label} | | | {acc:.2f} | {prec:.2f} | {rec:.2f} | {f1:.2f} | | | 20 | | |"
            for label, acc, prec, rec, f1 in DECK_SMS] if task == "sms" else []
    lines = [f"# {task}: recurrent variants compared", "", corpus_line(task), "",
             *runs_table(task, cfg, positive, deck), "",
             "Rows sorted by test accuracy. Timings are wall-clock on the machine that ran the pipeline; "
             "every other number is deterministic for a given seed.", "", *seeds_table(task, cfg)]
    return "\n".join(lines)


def run(task: str) -> None:
    cfg = P.task(P.load(), task)
    positive = "spam" if task == "sms" else sorted(json.loads((layout.prepared(task) / "corpus.json")
                                                           .read_text(encoding="utf-8"))["labels"])[-1]
    text = table(task, cfg, positive)
    atomic.write_text(layout.RESULTS / f"{task}.md", text)
    print(text)

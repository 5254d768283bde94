"""Stage `<task>_report`: results/news.md, both variants beside deck 000's fine-tuned SBERT + RNN."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from rnnlab import atomic, goals, layout, metricsfile, reports, significance
from rnnlab import params as P
from rnnlab.entry import run_stage

# Deck 000, "News dataset" (20.1.2025): paraphrase-MiniLM-L6-v2 fine-tuned at lr 1e-5 with an
# nn.RNN(384, 128) head on the [CLS] vector; early stopping after epoch 10 (best: 7); 33 classes.
DECK = {"accuracy": 0.6282, "macro_f1": 0.62, "weighted_f1": 0.63, "best_epoch": 7, "epochs_run": 10, "classes": 33}
DECK_F1 = {
    "BLACK VOICES": 0.51, "BUSINESS": 0.44, "COLLEGE": 0.62, "COMEDY": 0.56, "CRIME": 0.67, "CULTURE & ARTS": 0.68,
    "DIVORCE": 0.82, "EDUCATION": 0.56, "ENTERTAINMENT": 0.52, "ENVIRONMENT": 0.61, "FIFTY": 0.47,
    "GOOD NEWS": 0.45, "HEALTHY LIVING": 0.37, "HOME & LIVING": 0.77, "IMPACT": 0.45, "MEDIA": 0.70, "MONEY": 0.66,
    "PARENTING": 0.59, "POLITICS": 0.53, "QUEER VOICES": 0.76, "RELIGION": 0.70, "SCIENCE": 0.66, "SPORTS": 0.77,
    "STYLE": 0.65, "STYLE & BEAUTY": 0.74, "TASTE": 0.77, "TECH": 0.69, "TRAVEL": 0.73, "WEDDINGS": 0.83,
    "WEIRD NEWS": 0.47, "WELLNESS": 0.50, "WOMEN": 0.50, "WORLD": 0.70}


DEPENDS_ON = ("report.md",)  # the page's prose, with $placeholders for the numbers
TEMPLATE = Path(__file__).with_name("report.md")
DESCRIBE = {"frozen": "frozen encoder, sentence vectors computed once; RNN head trained",
            "finetuned": "encoder fine-tuned together with the RNN head"}


def _describe(variant: str, cfg) -> str:
    if variant == "frozen":
        return f"{DESCRIBE[variant]} (lr {cfg.head.lr:g})"
    ft = cfg.finetune
    layers = "all weights" if ft.layers is None else f"top {ft.layers} of 6 transformer layers"
    warm = " (first trained alone on the frozen vectors, as `frozen`)" if ft.warm_start else ""
    return f"{DESCRIBE[variant]}: {layers} at lr {ft.lr:g}, head{warm} at lr {ft.head_lr:g}"


def _date_range(task: str) -> tuple[str, str] | None:
    import pandas as pd

    frames = [pd.read_csv(layout.prepared(task) / f"{s}.csv", keep_default_na=False) for s in ("train", "val", "test")]
    if not all("date" in f.columns for f in frames):
        return None
    dates = sorted(d for f in frames for d in f["date"].astype(str) if d)
    return (dates[0], dates[-1]) if dates else None


def _comparison(task: str, rows, seed: int) -> str:
    m = {variant: metrics for variant, metrics, _ in rows}
    if not {"frozen", "finetuned"} <= set(m):
        return ""
    d_acc = m["finetuned"]["accuracy"] - m["frozen"]["accuracy"]
    d_f1 = m["finetuned"]["macro_f1"] - m["frozen"]["macro_f1"]
    n = m["frozen"]["test_rows"]
    se = (m["frozen"]["accuracy"] * (1 - m["frozen"]["accuracy"]) / n) ** 0.5
    only_tuned, only_frozen, p = significance.mcnemar_files(*(layout.plots(task, v) / "confusion.csv"
                                                              for v in ("finetuned", "frozen")))
    return (f"With seed {seed}, fine-tuning changed test accuracy by {d_acc * 100:+.1f} points and macro F1 by "
            f"{d_f1 * 100:+.1f} points against the frozen encoder (one test accuracy on {n:,} texts has a standard "
            f"error of about {se * 100:.1f} points). On the same test texts, the fine-tuned run alone is right on "
            f"{only_tuned} and the frozen alone on {only_frozen}: McNemar's exact test (rnnlab/significance.py) gives "
            f"{significance.p_phrase(p)} for a gap this large between "
            "two equally good runs.")


def run(task: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "news")
    corpus = json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))
    balance = json.loads((layout.METRICS / task / "balance.json").read_text(encoding="utf-8"))
    rows = []
    for variant in cfg.variants:
        m = metricsfile.read(layout.metrics(task, variant))
        t = metricsfile.trained(task, variant)
        rows.append((variant, m, t))
    rows.sort(key=lambda r: (-r[1]["accuracy"], -r[1]["macro_f1"], r[0]))
    sweeps = _sweeps(task, cfg, params.seed)
    dropped = corpus.get("dropped_classes") or {}
    counts = {l: sum(balance[s].get(l, 0) for s in ("train", "val", "test")) for l in corpus["labels"]}
    used, top = sum(counts.values()), max(sorted(counts), key=counts.get)
    dates = _date_range(task)
    majority = max((v for k, v in balance["test"].items() if k != "rows"), default=0) / balance["test"]["rows"]
    ft = cfg.finetune
    partial = "finetuned" in cfg.variants and ft.layers is not None
    best_variant, best, _ = rows[0]
    text = reports.render(
        TEMPLATE, task=task, corpus=corpus["corpus"], title=corpus["title"], source=corpus["source"],
        standin=f" — a stand-in for {corpus['requested']}" if corpus.get("standin_for") else "",
        text_fields=" + ".join(corpus["text_fields"]), text_sep=repr(corpus["text_sep"]),
        records=f"{corpus['records']:,}", classes_in_corpus=corpus["classes_in_corpus"],
        dropped=(f"; {len(dropped)} with fewer than {cfg.min_class_rows} records dropped "
                 f"({', '.join(f'{k} {v}' for k, v in dropped.items())})" if dropped else ""),
        n_labels=len(corpus["labels"]), train_rows=balance["train"]["rows"], val_rows=balance["val"]["rows"],
        test_rows=balance["test"]["rows"], seed=params.seed, majority=f"{majority:.3f}", encoder=cfg.encoder,
        head_variant=cfg.head.variant.upper(), head_hidden=cfg.head.hidden, sched_factor=f"{cfg.scheduler.factor:g}",
        sched_patience=cfg.scheduler.patience, patience=cfg.patience,
        results_table="\n".join(_results_table(rows, cfg, sweeps, params.seed)),
        seeds_note=(f"Macro F1 and accuracy: mean ± sample standard deviation over the seeds listed (stage "
                    f"`{task}_seeds`); every other column: seed {params.seed}'s run. " if sweeps else ""),
        best_epoch_zero=("Best epoch 0: no fine-tuning epoch beat the warm-started head on validation loss. "
                         if any(t["best_epoch"] == 0 for _, _, t in rows) else ""),
        single_pass="the frozen layers' single pass, " if partial else "", threads=rows[0][2].get("threads", "?"),
        comparison="\n\n".join(filter(None, (_comparison(task, rows, params.seed), _paired(sweeps)))),
        goals=goals.section(task, cfg, params.seed),
        used=f"{used:,}", dates=f", dated {dates[0]} to {dates[1]}" if dates else "",
        sample_note=(" (the file's first 10,000 records, i.e. its newest: not a random sample)"
                     if corpus["corpus"] == "huffpost_sample" else ""),
        n_categories=len(counts), top=top, top_share=f"{counts[top] / used:.0%}",
        small=sum(v < 100 for v in counts.values()), not_in_deck=len(set(counts) - set(DECK_F1)),
        finetune_note=(f" Fine-tuning trains the top {ft.layers} of the 6 transformer layers only, for at most "
                       f"{ft.max_epochs} epoch{'s' if ft.max_epochs > 1 else ''}, so that it fits a few minutes of two "
                       "CPU cores; the deck trained all weights for up to 20 epochs." if partial else ""),
        best_variant=best_variant, class_table="\n".join(_class_table(best, corpus["labels"])))
    atomic.write_text(layout.RESULTS / f"{task}.md", text)
    reports.write_summary(task)
    print(text)


def _sweeps(task: str, cfg, seed: int) -> dict[str, dict]:
    """Each variant's seed sweep (stage `<task>_seeds`) where extra seeds are asked for and its file is there."""
    out = {}
    for variant in reports.swept_runs(cfg):
        path = layout.METRICS / task / "seeds" / f"{variant}.json"
        if path.is_file():
            out[variant] = reports.seed_sweep(task, variant, [seed, *cfg.extra_seeds])
    return out


def _spread(sweep: dict | None, m: dict, key: str, digits: int) -> str:
    """mean ± std over the sweep's seeds; the default seed's number alone without a sweep."""
    return _mean_std(sweep, key, digits) if sweep else f"{m[key]:.{digits}f}"


def _mean_std(sweep: dict, key: str, digits: int) -> str:
    return f"{sweep[key + '_mean']:.{digits}f} ± {sweep[key + '_std']:.{digits}f}"


def _results_table(rows, cfg, sweeps: dict, seed: int) -> list[str]:
    lines = ["| variant | setup | classes | macro F1 | accuracy | seeds | weighted F1 | trainable parameters "
             "| best / run epochs | train s | stage s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for variant, m, t in rows:
        sweep = sweeps.get(variant)
        lines.append(
            f"| {variant} | {_describe(variant, cfg)} | {m['classes']} | {_spread(sweep, m, 'macro_f1', 3)} "
            f"| {_spread(sweep, m, 'accuracy', 4)} | {', '.join(map(str, sweep['seeds'] if sweep else [seed]))} "
            f"| {m['weighted_avg']['f1_score']:.3f} | {t['parameters']:,} | {t['best_epoch']} / {t['epochs_run']} "
            f"(max {t['max_epochs']}) | {t['train_seconds']:.0f} | {t['wall_seconds']:.0f} |")
    return lines + [
        f"| deck 000 | paraphrase-MiniLM-L6-v2 [CLS] vector, fine-tuned end to end at lr 1e-5 | {DECK['classes']} "
        f"| {DECK['macro_f1']:.2f} | {DECK['accuracy']:.4f} | | {DECK['weighted_f1']:.2f} | | "
        f"{DECK['best_epoch']} / {DECK['epochs_run']} (max 20) | | |"]


def _paired(sweeps: dict) -> str:
    """finetuned - frozen seed by seed (paired: a seed that draws a lucky test score for both variants
    cancels out); the goal on it is params' (rnnlab/goals.py)."""
    if not {"frozen", "finetuned"} <= set(sweeps):
        return ""
    frozen, tuned = sweeps["frozen"], sweeps["finetuned"]
    seeds = [str(s) for s in frozen["seeds"]]  # both files hold params' seeds (_sweeps)
    diff = {k: [tuned["per_seed"][s][k] - frozen["per_seed"][s][k] for s in seeds] for k in ("macro_f1", "accuracy")}
    lines = ["Paired by seed: each seed's fine-tuned run against the frozen run with the same seed (differences "
             "in points, mean ± sample standard deviation).", "",
             "| seed | frozen macro F1 | finetuned macro F1 | difference | frozen accuracy | finetuned accuracy "
             "| difference |", "|---|---|---|---|---|---|---|"]
    for i, s in enumerate(seeds):
        a, b = frozen["per_seed"][s], tuned["per_seed"][s]
        lines.append(f"| {s} | {a['macro_f1']:.3f} | {b['macro_f1']:.3f} | {diff['macro_f1'][i] * 100:+.2f} "
                     f"| {a['accuracy']:.4f} | {b['accuracy']:.4f} | {diff['accuracy'][i] * 100:+.2f} |")
    f1, acc = _points(diff["macro_f1"]), _points(diff["accuracy"])
    lines.append(f"| mean ± std | {_mean_std(frozen, 'macro_f1', 3)} | {_mean_std(tuned, 'macro_f1', 3)} "
                 f"| {f1[0]:+.2f} ± {f1[1]:.2f} | {_mean_std(frozen, 'accuracy', 4)} "
                 f"| {_mean_std(tuned, 'accuracy', 4)} | {acc[0]:+.2f} ± {acc[1]:.2f} |")
    return "\n".join(lines)


def _points(diffs: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of differences, in points (x 100)."""
    return (statistics.fmean(diffs) * 100, statistics.stdev(diffs) * 100 if len(diffs) > 1 else 0.0)


def _class_table(best: dict, all_labels: list[str]) -> list[str]:
    key = lambda label: label.replace(" ", "_")  # noqa: E731 - as evaluation.report names the rows
    labels = sorted(all_labels, key=lambda l: (-best[key(l)]["support"], l))
    lines = ["| category | test records | precision | recall | F1 | deck F1 |", "|---|---|---|---|---|---|"]
    for label in labels:
        r = best[key(label)]
        deck = f"{DECK_F1[label]:.2f}" if label in DECK_F1 else "—"
        lines.append(f"| {label} | {r['support']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1_score']:.3f} "
                     f"| {deck} |")
    return lines


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])

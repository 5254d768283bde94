"""Result tables shared by the report stages: the corpus line, a task's variants, its seed variation,
and the task's summary metrics file."""

from __future__ import annotations

import hashlib
import itertools
import json
import string
from pathlib import Path

from rnnlab import atomic, kinds, layout, metricsfile, significance
from rnnlab.ngrams import RUN_NAME as BASELINE
from rnnlab import params as P
from rnnlab.errors import RnnlabError


def _rows(task: str, cfg) -> list[dict]:
    rows = []
    for variant, kind, mode in itertools.product(cfg.models, cfg.embeddings.kinds, cfg.inputs):
        name = layout.run_name(variant, kind, mode)
        m = metricsfile.read(layout.metrics(task, name))
        t = metricsfile.trained(task, name)
        rows.append({"name": name, "variant": variant, "embedding": kind, "input": mode, "m": m, "t": t})
    return sorted(rows, key=lambda r: (-r["m"]["accuracy"], -r["m"]["macro_avg"]["f1_score"], r["variant"]))


def write_summary(task: str) -> dict:
    """metrics/<task>.json: the best variant's headline numbers (the compare page's columns, ranking
    metric first), so that `dvc metrics show` and `dvc exp show` list a few numbers per task; the
    per-variant reports beside it are plain outputs."""
    t = kinds.trained_tasks()[task]
    reports = {run: metricsfile.read(layout.metrics(task, run)) for run in t.runs}
    sign = 1 if t.kind.higher_is_better else -1

    def rank(run: str) -> tuple:
        score = metricsfile.value(reports[run], t.metric)
        return (score is None, -sign * (score or 0.0), run)

    best = reports[min(reports, key=rank)]
    summary = {_summary_key(k): metricsfile.value(best, k) for k in t.columns.values()}
    summary = {k: round(v, 6) for k, v in summary.items() if v is not None}
    atomic.write_json(layout.summary(task), summary)
    return summary


def _summary_key(metric: str) -> str:
    """'macro_avg.f1_score' -> 'macro_f1', 'spam.f1_score' -> 'spam_f1': short columns for a terminal."""
    return metric.replace("macro_avg.", "macro_").replace(".f1_score", "_f1").replace("_f1_score", "_f1").replace(".", "_")


def render(template: Path, **values) -> str:
    """A report page: its prose from a markdown template, the numbers filled into $placeholders."""
    try:
        text = string.Template(Path(template).read_text(encoding="utf-8")).substitute(values)
    except KeyError as e:
        raise RnnlabError(f"{template}: no value for placeholder ${e.args[0]}") from None
    return text.rstrip("\n") + "\n"  # an empty last part (no seed runs, say) leaves no blank lines behind


def hashes(corpus: dict, listed: int = 5) -> str:
    """A corpus's file hashes for a report header: each file of a small corpus, a count and one digest
    over the sorted (name, sha256) pairs for a corpus of many files (thousands would bury the table)."""
    files = corpus.get("files") or {}
    if len(files) <= listed and "files_digest" not in corpus:
        return ", ".join(f"`{f}` {h[:16]}…" for f, h in files.items())
    digest = corpus.get("files_digest") or hashlib.sha256(
        "".join(f"{name}\t{files[name]}\n" for name in sorted(files)).encode()).hexdigest()
    return f"{corpus.get('file_count', len(files)):,} files, digest {digest[:16]}…"


def prepared_corpus(task: str) -> dict:
    """What the task's prepare stage recorded of its corpus (data/prepared/<task>/corpus.json): name, source,
    file hashes and, for a classification task, its class labels."""
    return json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))


def corpus_line(task: str) -> str:
    balance = json.loads((layout.METRICS / task / "balance.json").read_text(encoding="utf-8"))
    corpus = prepared_corpus(task)
    return (f"Corpus **{corpus['corpus']}** ({corpus['title']}), from {corpus['source']}"
            + (f" — a stand-in for {corpus['requested']}" if corpus.get("standin_for") else "") + ". "
            f"sha256: {hashes(corpus)}. "
            f"Split: train {balance['train']['rows']}, validation {balance['val']['rows']}, "
            f"test {balance['test']['rows']} (seed {P.load().seed}).")


def runs_table(task: str, cfg, positive: str, extra_rows: list[str] = ()) -> list[str]:
    rows = _rows(task, cfg)
    best, p_vs_best = _versus_best(task, rows)
    lines = [f"| variant | embedding | input | accuracy | {positive} precision | {positive} recall | {positive} F1 "
             f"| macro F1 | p vs {best}¹ | parameters | best / run epochs | train s | tokens/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m, t, p = r["m"], r["t"], r["m"][positive.replace(" ", "_")]
        lines.append(
            f"| {r['variant']} | {r['embedding']} | {r['input']} | {m['accuracy']:.4f} | {p['precision']:.3f} "
            f"| {p['recall']:.3f} | {p['f1_score']:.3f} | {m['macro_avg']['f1_score']:.3f} | {p_vs_best[r['name']]} "
            f"| {t['parameters']:,} | {t['best_epoch']} / {t['epochs_run']} | {t['train_seconds']:.1f} "
            f"| {t['tokens_per_s']:,.0f} |")
    lines.append(_baseline_row(task, cfg, positive, p_vs_best["baseline"]))
    note = (f"¹ McNemar's exact test of each run against {best}, the run the task ranks first by "
            f"{kinds.trained_tasks()[task].metric}, on the same test rows (rnnlab/significance.py): the chance of "
            "a gap in accuracy at least this large if the two were equally good. Below 0.05, the difference is "
            "more than test-set luck; it says nothing about seed luck (see the seed table).")
    return lines + list(extra_rows) + ["", note]


def _baseline_row(task: str, cfg, positive: str, p_vs_best: str) -> str:
    """The linear n-gram reference (stage `<task>_baseline`): not recurrent, never a champion, tested as a run."""
    m = metricsfile.read(layout.metrics(task, BASELINE))
    seconds = metricsfile.read(layout.timing(task, BASELINE))["train_seconds"]
    p = m[positive.replace(" ", "_")]
    b = cfg.baseline
    return (f"| linear baseline: NB-LR, word {b.ngrams[0]}- to {b.ngrams[1]}-grams (not recurrent) | — | — "
            f"| {m['accuracy']:.4f} | {p['precision']:.3f} | {p['recall']:.3f} | {p['f1_score']:.3f} "
            f"| {m['macro_avg']['f1_score']:.3f} | {p_vs_best} | {m['ngram_features']:,} n-grams | — | {seconds:.1f} | — |")


def _versus_best(task: str, rows: list[dict]) -> tuple[str, dict[str, str]]:
    """The task's best run (its ranking metric) and the McNemar p-value of each run, and of the linear
    baseline, against it."""
    t = kinds.trained_tasks()[task]
    sign = 1 if t.kind.higher_is_better else -1
    best = min(rows, key=lambda r: (-sign * metricsfile.value(r["m"], t.metric), r["name"]))["name"]
    files = {run: layout.plots(task, run) / "confusion.csv" for run in [*(r["name"] for r in rows), BASELINE]}
    p = significance.versus(files, best)
    return best, {run: "—" if run == best else significance.p_text(p[run][2]) for run in files}


def swept_runs(cfg) -> list[str]:
    """The runs the task's seeds stage retrains under these settings (a news task: every variant). DVC
    leaves the file of a run dropped from them behind: it is not this configuration's."""
    if not getattr(cfg, "extra_seeds", None):
        return []
    return list(getattr(cfg, "seed_runs", None) or getattr(cfg, "variants", []))


def seed_sweep(task: str, run: str, seeds: list[int]) -> dict:
    """A run's seed sweep (metrics/<task>/seeds/<run>.json), refused when it holds other seeds than
    params.yaml asks for: DVC leaves the file of an earlier configuration's sweep behind."""
    path = layout.METRICS / task / "seeds" / f"{run}.json"
    sweep = metricsfile.read(path)
    if sweep["seeds"] != seeds:
        raise RnnlabError(f"{path}: seeds {sweep['seeds']}, but params.yaml asks for {seeds} (rerun {task}_seeds@{run})")
    return sweep


def seeds_table(task: str, cfg) -> list[str]:
    """Mean +- sample std over the default seed and the extra seeds (stage `<task>_seeds`)."""
    if not cfg.seed_runs:
        return []
    seeds = [P.load().seed, *cfg.extra_seeds]
    positive = getattr(cfg, "positive", None)  # its F1 too, as the runs table shows it (spam)
    extra = {f"{positive} F1": f"{positive.replace(' ', '_')}_f1"} if positive else {}
    lines = [f"Seed variation (seeds {', '.join(map(str, seeds))}; mean ± sample standard deviation):", "",
             f"| run | test accuracy | macro F1 |{''.join(f' {h} |' for h in extra)} per seed (accuracy) |",
             "|---|---|---|" + "---|" * len(extra) + "---|"]
    for run in cfg.seed_runs:
        s = seed_sweep(task, run, seeds)
        missing = [k for k in extra.values() if k + "_mean" not in s]
        if missing:  # swept before the task named its positive class
            raise RnnlabError(f"{layout.METRICS / task / 'seeds' / f'{run}.json'}: no {missing[0]} (rerun {task}_seeds@{run})")
        per = ", ".join(f"{s['per_seed'][str(seed)]['accuracy']:.4f}" for seed in s["seeds"])  # JSON keys are sorted
        cells = "".join(f" {s[k + '_mean']:.3f} ± {s[k + '_std']:.3f} |" for k in extra.values())
        lines.append(f"| {run} | {s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f} "
                     f"| {s['macro_f1_mean']:.3f} ± {s['macro_f1_std']:.3f} |{cells} {per} |")
    return lines + [""]


def positive_label(cfg, labels: list[str]) -> str:
    """The class a table reports precision / recall / F1 for: the task's `positive`, else the last label."""
    if cfg.positive is not None and cfg.positive not in labels:
        raise RnnlabError(f"params.yaml: positive: {cfg.positive!r} is not a class of the corpus "
                          f"(its classes: {', '.join(labels)})")
    return cfg.positive or sorted(labels)[-1]

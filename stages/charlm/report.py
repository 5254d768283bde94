"""Stage `<task>_report`: bits per character of every character model, beside the deck's setup, with samples."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rnnlab import atomic, charlm, charscores, goals, layout, metricsfile, reports, significance
from rnnlab import params as P
from rnnlab.entry import run_stage

BOOTSTRAP_RESAMPLES = 10_000
DEPENDS_ON = ("report.md",)  # the page's prose, with $placeholders for the numbers
TEMPLATE = Path(__file__).with_name("report.md")
CELL_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "Elman RNN"}


def _describe(variant: str, cfg, split: dict) -> str:
    """What a variant is, from the settings it was trained with."""
    if variant == "deck":
        return f"the deck's formulation: LSTM({cfg.deck.hidden}), {cfg.deck.window}-char one-hot windows, one target each"
    if variant != "pretrained":
        return f"{CELL_NAMES[variant]}({cfg.stream.hidden}), every next character, TBPTT"
    p = cfg.pretrain
    return (f"LSTM({p.hidden}) x {p.layers} layers, {p.epochs} epoch{'s' * (p.epochs > 1)} over "
            f"{split['prose_chars']:,} characters of {split['prose_corpus']}{f' ({p.label})' if p.label else ''}, "
            f"then the poems at lr {p.finetune_lr:g}")


def _results_table(task: str, cfg, split: dict, seed: int) -> list[str]:
    deck = "deck" in cfg.models  # the comparison column needs the deck's model
    lines = ["| model | test bits/char | " + ("vs deck¹: difference [95% interval], p | " if deck else "") +
             "best val bits/char | parameters | best / run epochs | train s | chars/s |", "|---" * (7 + deck) + "|"]
    for variant in cfg.models:
        m = metricsfile.read(layout.metrics(task, variant))
        t = metricsfile.trained(task, variant)
        lines.append(f"| {variant}: {_describe(variant, cfg, split)} | {m['test_bpc']:.3f} | "
                     f"{_vs_deck(task, variant, seed) + ' | ' if deck else ''}{m['val_bpc']:.3f} | "
                     f"{t['parameters']:,} | {t['best_epoch']} / {t['epochs_run']} | {t['train_seconds']:.1f} | "
                     f"{t['tokens_per_s']:,.0f} |")
    if deck:
        lines += ["", "¹ Paired bootstrap against the deck's formulation on the same test characters "
                  "(rnnlab/significance.py): each model's bits summed per line of the test poems, the lines resampled "
                  f"{BOOTSTRAP_RESAMPLES:,} times (seed {seed}); the difference in bits/char (negative: fewer bits than the "
                  "deck's model), its 95% percentile interval, and p, twice the share of resampled differences on the "
                  "far side of zero (a percentile-bootstrap p). Lines of one poem are not independent, so the interval is "
                  "if anything too narrow; it speaks to these test lines, not to seed luck (see the seeds)."]
    return lines


def _vs_deck(task: str, variant: str, seed: int) -> str:
    if variant == "deck":
        return "—"
    lines = lambda v: charscores.read_lines(layout.plots(task, v) / "test_lines.csv")  # noqa: E731
    d, low, high, p = significance.paired_bootstrap(lines(variant), lines("deck"), seed, BOOTSTRAP_RESAMPLES)
    return f"{d:+.3f} [{low:+.3f}, {high:+.3f}], {significance.p_phrase(p)}"


def _seeds_table(task: str, cfg, seed: int) -> list[str]:
    """The seed_runs over every seed (stage `<task>_seeds`): mean ± sample std, and each seed's test number."""
    if not cfg.seed_runs or not cfg.extra_seeds:
        return []
    seeds = [seed, *cfg.extra_seeds]
    lines = [f"Over seeds {', '.join(map(str, seeds))} (stage `{task}_seeds`; mean ± sample standard deviation; "
             f"the table above is seed {seed}'s):", "",
             "| model | test bits/char | best val bits/char | each seed: test bits/char |", "|---|---|---|---|"]
    for run in cfg.seed_runs:
        s = reports.seed_sweep(task, run, seeds)
        each = ", ".join(f"{x}: {s['per_seed'][str(x)]['test_bpc']:.3f}" for x in seeds)
        lines.append(f"| {run} | {s['test_bpc_mean']:.3f} ± {s['test_bpc_std']:.3f} | "
                     f"{s['val_bpc_mean']:.3f} ± {s['val_bpc_std']:.3f} | {each} |")
    return ["", *lines]


def _samples(task: str, cfg, seed: int) -> list[str]:
    """300 characters of every model from the first prompt, at temperature 0.5 where it is among the sampled."""
    prompt, t = cfg.generate.prompts[0], 0.5 if 0.5 in cfg.generate.temperatures else cfg.generate.temperatures[0]
    lines = []
    for variant in cfg.models:
        model, config, vocab = charlm.load(layout.model_dir(task, variant))
        text = charlm.generate(model, vocab, prompt, 300, t, seed=seed, window=config["window"])
        lines += [f"**{variant}**, temperature {t}, from the deck's Ungaretti prompt "
                  f"(all prompts and temperatures: `{layout.samples(task, variant)}`):", "", "```",
                  prompt + text, "```", ""]
    return lines


def run(task: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "charlm")
    split = json.loads((layout.METRICS / task / "split.json").read_text(encoding="utf-8"))
    text = reports.render(TEMPLATE, task=task, corpus=split["corpus"], train_chars=f"{split['train_chars']:,}",
                          val_chars=f"{split['val_chars']:,}", test_chars=f"{split['test_chars']:,}",
                          test_poems=", ".join(split["test_poems"]), chars=split["chars"],
                          results_table="\n".join(_results_table(task, cfg, split, params.seed) + _seeds_table(task, cfg, params.seed)),
                          deck_max_epochs=cfg.deck.max_epochs, goals=goals.section(task, cfg, params.seed),
                          samples="\n".join(_samples(task, cfg, params.seed)).rstrip("\n"))
    atomic.write_text(layout.RESULTS / f"{task}.md", text)
    reports.write_summary(task)
    print(text)


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])

"""Stage `<task>_report`: bits per character of every character model, beside the deck's setup, with samples."""

from __future__ import annotations

import json
import sys

from rnnlab import atomic, charlm, layout, metricsfile
from rnnlab import params as P
from rnnlab.entry import run_stage

DESCRIBE = {"lstm": "LSTM(128), every next character, TBPTT", "gru": "GRU(128), every next character, TBPTT",
            "rnn": "Elman RNN(128), every next character, TBPTT",
            "deck": "the deck's formulation: LSTM(128), 40-char one-hot windows, one target each"}


def run(task: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "charlm")
    split = json.loads((layout.METRICS / task / "split.json").read_text(encoding="utf-8"))
    lines = [f"# {task}: character-level language models", "",
             f"Corpus **{split['corpus']}**: {split['train_chars']:,} training characters, held-out poems for "
             f"validation ({split['val_chars']:,} chars) and test ({split['test_chars']:,} chars: "
             f"{', '.join(split['test_poems'])}); {split['chars']} distinct characters.", "",
             "| model | test bits/char | best val bits/char | parameters | best / run epochs | train s | chars/s |",
             "|---|---|---|---|---|---|---|"]
    for variant in cfg.models:
        m = metricsfile.read(layout.metrics(task, variant))
        t = json.loads((layout.model_dir(task, variant) / "train.json").read_text(encoding="utf-8"))
        lines.append(f"| {variant}: {DESCRIBE[variant]} | {m['test_bpc']:.3f} | {m['val_bpc']:.3f} | "
                     f"{t['parameters']:,} | {t['best_epoch']} / {t['epochs_run']} | {t['train_seconds']:.1f} | "
                     f"{t['tokens_per_s']:,.0f} |")
    lines += ["", f"The deck trained its model for 100 epochs (83 minutes) and reported no held-out score; here it "
              f"stops early on validation bits/char (at most {cfg.deck.max_epochs} epochs). Bits per character: "
              "cross-entropy in base 2 of each held-out character given the text before it (the deck's model "
              "sees only the 40 characters before it).", ""]
    prompt, t = cfg.generate.prompts[0], 0.5 if 0.5 in cfg.generate.temperatures else cfg.generate.temperatures[0]
    for variant in cfg.models:
        model, config, vocab = charlm.load(layout.model_dir(task, variant))
        text = charlm.generate(model, vocab, prompt, 300, t, seed=params.seed, window=config["window"])
        lines += [f"**{variant}**, temperature {t}, from the deck's Ungaretti prompt "
                  f"(all prompts and temperatures: `{layout.samples(task, variant)}`):", "", "```",
                  prompt + text, "```", ""]
    atomic.write_text(layout.RESULTS / f"{task}.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])

"""Stage `<task>_prepare`: whole poems into train / validation / test texts (no poem split across)."""

from __future__ import annotations

import random
import sys

from rnnlab import atomic, corpora, layout
from rnnlab import params as P
from rnnlab.charlm import PROSE, CharVocab
from rnnlab.entry import run_stage
from rnnlab.errors import RnnlabError

POEM_BREAK = "\n\n\n"


def run(task: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "charlm")
    table, source = corpora.load_table(layout.raw(cfg.corpus))
    poems = [f"{r.label}\n{r.text}" for r in table.itertuples()]
    held = cfg.val_poems + cfg.test_poems
    if held >= len(poems):
        raise RnnlabError(f"params.yaml: tasks.{task}.val_poems + test_poems = {held} leaves no training poem "
                          f"({source['corpus']} has {len(poems)})")
    order = list(range(len(poems)))
    random.Random(params.seed).shuffle(order)
    split = {"val": sorted(order[:cfg.val_poems]), "test": sorted(order[cfg.val_poems:held]),
             "train": sorted(order[held:])}
    texts = {k: POEM_BREAK.join(poems[i] for i in idx) for k, idx in split.items()}
    vocab = CharVocab.build(texts["train"])
    prose = _prose(task, cfg.pretrain) if cfg.pretrain else {}
    with atomic.output_dir(layout.prepared(task)) as out:
        for name, text in texts.items():
            atomic.write_text(out / f"{name}.txt", text)
        atomic.write_json(out / "chars.json", vocab.itos)
        atomic.write_json(out / "corpus.json", source)
        if prose:
            atomic.write_text(out / PROSE, prose["text"])
    atomic.write_json(layout.METRICS / task / "split.json", {
        "corpus": source["corpus"], "chars": len(vocab), **{f"{k}_chars": len(t) for k, t in texts.items()},
        **{f"{k}_poems": [table.label[i] for i in idx] for k, idx in split.items() if k != "train"},
        **({"prose_corpus": prose["corpus"], "prose_chars": len(prose["text"])} if prose else {})})
    print(f"{task}: {len(poems)} poems from {source['corpus']}; " +
          ", ".join(f"{k} {len(v)} poems / {len(texts[k]):,} chars" for k, v in split.items()) +
          f"; {len(vocab)} characters" + (f"; {len(prose['text']):,} chars of prose to pretrain on" if prose else ""))


def _prose(task: str, pretrain) -> dict:
    """The pretrained model's prose: the rows of its corpus with the label asked for, as one text."""
    table, source = corpora.load_table(layout.raw(pretrain.corpus))
    rows = table if pretrain.label is None else table[table.label == pretrain.label]
    if rows.empty:
        raise RnnlabError(f"params.yaml: tasks.{task}.pretrain.label {pretrain.label!r} is no label of "
                          f"{source['corpus']} (it has {', '.join(sorted(map(str, table.label.unique())))})")
    text = "\n\n".join(rows.text)
    return {"corpus": source["corpus"], "text": text[:pretrain.max_chars] if pretrain.max_chars else text}


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])

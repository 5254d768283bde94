"""Stage `<task>_evaluate`: test bits per character, samples at every temperature, MLflow run."""

from __future__ import annotations

import json
import sys

from rnnlab import atomic, charlm, charscores, evaluation, layout, metricsfile, tracking
from rnnlab import params as P
from rnnlab.entry import run_stage


def samples_markdown(task: str, variant: str, model, vocab, config, gen, seed: int) -> str:
    lines = [f"# Samples from {task}/{variant}", ""]
    for prompt in gen.prompts:
        for t in gen.temperatures:
            text = charlm.generate(model, vocab, prompt, gen.length, t, seed=seed, window=config["window"])
            lines += [f"## temperature {t}: «{prompt.splitlines()[0]} …»", "", "```", prompt + text, "```", ""]
    return "\n".join(lines)


def run(task: str, variant: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "charlm")
    model_dir = layout.model_dir(task, variant)
    model, config, _ = charlm.load(model_dir)
    vocab, text = charlm.load_texts(task, ("test",))
    bpc = charlm.bits_per_char(model, text["test"], config["window"])
    test_text = (layout.prepared(task) / "test.txt").read_text(encoding="utf-8")
    lines = charscores.per_line(test_text, charscores.char_bits(model, text["test"], config["window"]))
    trained = json.loads((model_dir / "train.json").read_text(encoding="utf-8"))
    corpus = json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))["corpus"]
    metrics = {"corpus": corpus, "test_bpc": round(bpc, 6),
               "val_bpc": round(min(h["val_bpc"] for h in trained["history"]), 6)}
    atomic.write_json(layout.metrics(task, variant), metrics)
    samples = layout.samples(task, variant)
    atomic.write_text(samples, samples_markdown(task, variant, model, vocab, config, cfg.generate, params.seed))
    plots = layout.plots(task, variant)
    with atomic.output_dir(plots) as out:
        evaluation.plot_curves(trained["history"], f"{task} {variant}", out / "curves.png", metrics=("bpc",))
        atomic.write_text(out / "history.csv", evaluation.history_csv(trained["history"]))
        atomic.write_text(out / "test_lines.csv", charscores.lines_csv(lines))  # for paired comparisons
    print(f"{task}/{variant}: test {bpc:.3f} bits/char")
    tracking.log_or_warn(
        f"{task}/{variant}", f"{task}_evaluate@{variant}",
        experiment=f"rnnlab-{task}", run_name=f"{task}/{variant}",
        params={**config, "seed": params.seed, "corpus": corpus, "parameters": trained["parameters"]},
        history=trained["history"], metrics={**{k: v for k, v in metrics.items() if k != "corpus"},
                                             **metricsfile.clock(task, variant)},
        tags={"task": task, "variant": variant, "corpus": corpus,
              "dvc_data_md5": tracking.dvc_hash(str(layout.prepared(task))),
              "dvc_model_md5": tracking.dvc_hash(str(model_dir))},
        artifacts=[samples, plots / "curves.png", layout.metrics(task, variant), *model_dir.iterdir()], trained=model_dir, data=layout.prepared(task))


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])

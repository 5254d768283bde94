"""Stage `poetry_evaluate`: test bits per character, samples at every temperature, MLflow run."""

from __future__ import annotations

import json
import sys

from rnnlab import atomic, charlm, evaluation, layout, params as P, tracking
from rnnlab.steps.poetry_train import load_texts


def samples_markdown(variant: str, model, vocab, config, gen, seed: int) -> str:
    lines = [f"# Samples from poetry/{variant}", ""]
    for prompt in gen.prompts:
        for t in gen.temperatures:
            text = charlm.generate(model, vocab, prompt, gen.length, t, seed=seed, window=config["window"])
            lines += [f"## temperature {t}: «{prompt.splitlines()[0]} …»", "", "```", prompt + text, "```", ""]
    return "\n".join(lines)


def run(variant: str) -> None:
    params = P.load()
    cfg = params.poetry
    model_dir = layout.model_dir("poetry", variant)
    model, config, _ = charlm.load(model_dir)
    vocab, text = load_texts(("test",))
    bpc = (charlm.bits_per_char_windows(model, text["test"], config["window"]) if config["window"]
           else charlm.bits_per_char_stream(model, text["test"]))
    trained = json.loads((model_dir / "train.json").read_text(encoding="utf-8"))
    corpus = json.loads((layout.prepared("poetry") / "corpus.json").read_text(encoding="utf-8"))["corpus"]
    metrics = {"corpus": corpus, "test_bpc": round(bpc, 6),
               "val_bpc": round(min(h["val_bpc"] for h in trained["history"]), 6)}
    atomic.write_json(layout.metrics("poetry", variant), metrics)
    samples = layout.RESULTS / "poetry-samples" / f"{variant}.md"
    atomic.write_text(samples, samples_markdown(variant, model, vocab, config, cfg.generate, params.seed))
    plots = layout.plots("poetry", variant)
    with atomic.output_dir(plots) as out:
        evaluation.plot_curves(trained["history"], f"poetry {variant}", out / "curves.png", metrics=("bpc",))
    print(f"poetry/{variant}: test {bpc:.3f} bits/char")
    try:
        run_id = tracking.log_run(
            experiment="rnnlab-poetry", run_name=f"poetry/{variant}",
            params={**config, "seed": params.seed, "corpus": corpus, "parameters": trained["parameters"]},
            history=trained["history"], metrics={**{k: v for k, v in metrics.items() if k != "corpus"},
                                                 "train_seconds": trained["train_seconds"],
                                                 "chars_per_s": trained["tokens_per_s"]},
            tags={"task": "poetry", "variant": variant, "corpus": corpus,
                  "dvc_data_md5": tracking.dvc_hash(str(layout.prepared("poetry"))),
                  "dvc_model_md5": tracking.dvc_hash(str(model_dir))},
            artifacts=[samples, plots / "curves.png", layout.metrics("poetry", variant), *model_dir.iterdir()],
            model_dir=None)
        print(f"poetry/{variant}: logged to MLflow run {run_id}")
    except Exception as e:  # noqa: BLE001 - tracking must never cost the stage its outputs
        print(f"warning: poetry/{variant}: MLflow logging failed ({type(e).__name__}: {str(e).splitlines()[0]})",
              file=sys.stderr)

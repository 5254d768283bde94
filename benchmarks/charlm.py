"""Issue 7, item 3: character LM, time to the deck's quality and peak memory.

Both formulations train on the prepared Leopardi split (the first charlm task of params.yaml,
`poetry`) with the pipeline's own functions and its settings, each in its own process (so each peak RSS is its own):

    deck     40-character one-hot windows, one target each, LSTM 128, batch 128 (lmtraining.fit_windows)
    project  streamed text, every character a target, state carried (lmtraining.fit_streams, lstm)

The deck model runs first; its best validation bits/char is the quality target; the project's model
is timed until its validation bits/char first reaches it. Time includes each epoch's validation.
Peak memory: the process's max RSS, and the same minus an idle process that loaded the same
libraries and data (the training's own share).

    .venv/bin/python -m benchmarks.charlm [--quick]     (full: ~6 min; quick, the deck runs 2 epochs: ~1.5 min)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

from benchmarks import common


class Reached(Exception):
    """The deck's quality is reached: training stops there."""


def child(kind: str, target: float | None, deck_epochs: int | None) -> None:
    """Train one formulation; print a JSON line with the val-bpc timeline and max RSS."""
    import torch

    from rnnlab import charlm, lmtraining, params as P, training

    params = P.load()
    task, cfg = next(iter(P.tasks_of(params, "charlm").items()))  # the Leopardi task (poetry)
    vocab, text = charlm.load_texts(task, ("train", "val"))
    start, timeline = time.perf_counter(), []
    if kind == "idle":
        print(json.dumps({"kind": kind, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    name = "bits_per_char_windows" if kind == "deck" else "bits_per_char_stream"
    measure = getattr(charlm, name)

    def timed(*a, **k):  # validation runs once per epoch: stamp each result
        bpc = measure(*a, **k)
        timeline.append((time.perf_counter() - start, bpc))
        if target is not None and bpc <= target:
            raise Reached  # reached the deck's quality: stop the clock here
        return bpc

    setattr(charlm, name, timed)
    training.seed_everything(params.seed)
    torch.set_num_threads(torch.get_num_threads())
    try:
        if kind == "deck":
            c = cfg.deck
            model = charlm.CharLM(len(vocab), "lstm", c.hidden)
            lmtraining.fit_windows(model, text["train"], text["val"], lr=c.lr, batch=c.batch, window=c.window,
                                   max_epochs=deck_epochs or c.max_epochs, patience=c.patience, seed=params.seed)
        else:
            c = cfg.stream
            model = charlm.CharLM(len(vocab), "lstm", c.hidden, 1, c.embed_dim, c.dropout)
            lmtraining.fit_streams(model, text["train"], text["val"], lr=c.lr, batch=c.batch, bptt=c.bptt,
                                   clip=c.clip, max_epochs=c.max_epochs, patience=c.patience, seed=params.seed)
    except Reached:
        pass
    print(json.dumps({"kind": kind, "timeline": timeline,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(kind: str, target: float | None = None, deck_epochs: int | None = None) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.charlm", "--child", kind, "--target", str(target or ""),
           "--deck-epochs", str(deck_epochs or "")]
    done = subprocess.run(cmd, cwd=common.ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], repeats=1, quick_repeats=1)
    p.add_argument("--child", help="internal: run one formulation")
    p.add_argument("--target", default="")
    p.add_argument("--deck-epochs", default="")
    args = p.parse_args()
    if args.child:
        child(args.child, float(args.target) if args.target else None,
              int(args.deck_epochs) if args.deck_epochs else None)
        return
    args = common.setup(args)
    info = common.machine()
    idle = run_child("idle")
    deck = run_child("deck", deck_epochs=2 if args.quick else None)
    target = min(bpc for _, bpc in deck["timeline"])
    deck_time = next(t for t, bpc in deck["timeline"] if bpc == target)
    project = run_child("project", target=target)
    reached = [t for t, bpc in project["timeline"] if bpc <= target]
    project_time = reached[0] if reached else float("nan")
    base = idle["max_rss_mb"]
    rows = [
        common.row(f"time to val {target:.3f} bits/char (s)", project_time, deck_time, "s", target=0.05,
                   higher_is_better=False, note=f"speed-up {deck_time / project_time:.1f}x (target >= 20x)"),
        common.row("peak RSS, whole process (MB)", project["max_rss_mb"], deck["max_rss_mb"], "MB", target=0.1,
                   higher_is_better=False),
        common.row("peak RSS above an idle process (MB)", project["max_rss_mb"] - base, deck["max_rss_mb"] - base,
                   "MB", target=0.1, higher_is_better=False, note=f"idle process (imports + data): {base:.0f} MB"),
    ]
    common.report(rows, args, "Character LM: the project's streamed LSTM vs the deck's windows", info,
                  {"deck": deck, "project": project, "idle": idle})


if __name__ == "__main__":
    main()

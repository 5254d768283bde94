"""Issue 7, item 1: the project's full training step against bare nn.RNN/LSTM/GRU, in tokens/s.

Project step = what rnnlab.training.fit does per batch: embedding lookup from a vocabulary-sized
matrix, RecurrentClassifier (the pipeline's model, in padded, packed and bucketed input mode),
dropout, linear head, cross-entropy, backward, Adam step, loss.item().
Bare = nn.RNN/LSTM/GRU forward + backward on a ready [64, 50, 128] float tensor (input
gradient included, as the project's embedding needs it), no optimizer.
Same shape for both: batch 64, length 50 (every sequence full length, so both sides do the
same recurrent work), input 128, hidden 128. Ratio = project tokens/s / bare tokens/s, target >= 0.9.

The project's step uses Adam(fused=True) (training.adam) and, for GRU and Elman RNN, rnnlab.fused's
layers (models.CELLS); bare is PyTorch's own nn.* layer. A second table splits the padded step into
its parts, including what the default (multi-tensor) Adam would cost instead.

    .venv/bin/python -m benchmarks.step [--quick] [--repeats N] [--threads N] [--json PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python benchmarks/step.py): make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from benchmarks import common
from rnnlab import training
from rnnlab.models import RecurrentClassifier, parse_variant

VARIANTS = ["rnn", "lstm", "gru", "birnn", "bilstm", "bigru", "lstmx2", "cnn-lstm"]
MODES = ["padded", "packed", "bucketed"]
BATCH, LENGTH, EMBED, HIDDEN, VOCAB = 64, 50, 128, 128, 20000  # vocabulary: imdb_deck's max_size
TARGET = 0.9
NN_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}  # the baseline: PyTorch's own layers
SPARSE = "padded, sparse emb."  # --sparse: tried, slower than dense + fused Adam here


def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    tokens = torch.randint(2, VOCAB, (BATCH, LENGTH))
    return tokens, torch.full((BATCH,), LENGTH), torch.randint(0, 2, (BATCH,))


def project_model(variant: str, mode: str) -> RecurrentClassifier:
    """The model as stages/classification/train.py builds it (imdb_deck settings: hidden 128, dropout 0.3)."""
    embedding = np.random.default_rng(0).normal(0, 0.1, (VOCAB, EMBED)).astype(np.float32)
    return RecurrentClassifier(embedding, variant, n_classes=2, hidden=HIDDEN, layers=1, dropout=0.3,
                               input_mode=mode).train()


def project_step(model: nn.Module, batch, optimizer_step: bool = True, sparse_embedding: bool = False):
    """One step of training.fit's loop (its optimizer: training.adam).

    What-if: sparse_embedding = the embedding returns a sparse gradient (only the batch's rows)
    updated by SparseAdam (lazy Adam: a different optimizer).
    """
    tokens, lengths, y = batch
    params = [p for p in model.parameters() if p.requires_grad]
    opts = []
    if sparse_embedding:
        model.embedding.sparse = True
        opts.append(torch.optim.SparseAdam([model.embedding.weight], lr=1e-3))
        params = [p for p in params if p is not model.embedding.weight]
    opts.insert(0, training.adam(params, 1e-3))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        for opt in opts:
            opt.zero_grad()
        logits = model(tokens, lengths)
        loss = loss_fn(logits, y)
        loss.backward()
        if optimizer_step:
            for opt in opts:
                opt.step()
        return loss.item()
    return step, opts[0]


def bare_step(variant: str, packed: bool = False):
    """nn.* forward + backward at the same shape; cnn-lstm gets its Conv1d + pool in front too.

    packed: the same through pack_padded_sequence, to tell the kernel's cost from the wrapper's.
    """
    arch = parse_variant(variant)
    conv = None
    if arch.cnn:  # the same conv block as SequenceEncoder, so both sides run the LSTM on 25 steps
        conv = nn.Sequential(nn.Conv1d(EMBED, 128, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True))
    rnn = NN_CELLS[arch.cell](EMBED, HIDDEN, num_layers=arch.layers or 1, batch_first=True,
                           bidirectional=arch.bidirectional)
    params = list(rnn.parameters()) + (list(conv.parameters()) if conv else [])
    x = torch.randn(BATCH, LENGTH, EMBED, requires_grad=True)

    def step():
        x.grad = None
        for p in params:
            p.grad = None
        h = conv(x.transpose(1, 2)).transpose(1, 2) if conv else x
        if packed:
            h = pack_padded_sequence(h, torch.full((BATCH,), h.shape[1]), batch_first=True, enforce_sorted=False)
        out, _ = rnn(h)
        (out.data if packed else out).sum().backward()
    return step


def measure(variant: str, args) -> dict[str, float]:
    """Seconds per step of every contender for one variant, timed interleaved."""
    torch.manual_seed(0)
    batch = data()
    fns = {"bare": bare_step(variant), "bare packed": bare_step(variant, packed=True)}
    for mode in MODES:
        fns[mode] = project_step(project_model(variant, mode), batch)[0]
    padded = project_model(variant, "padded")
    fns["fwd+bwd"], opt = project_step(padded, batch, optimizer_step=False)
    fns["fwd+bwd"]()  # gradients exist, so the optimizer steps below do real work
    fns["adam fused"] = opt.step
    default_opt = torch.optim.Adam([p for p in padded.parameters() if p.requires_grad], lr=1e-3)
    fns["adam"] = default_opt.step
    if args.sparse:
        fns[SPARSE] = project_step(project_model(variant, "padded"), batch, sparse_embedding=True)[0]
    return common.interleaved(fns, args.repeats, number=args.number, warmup=2)


def main() -> None:
    p = common.parser(__doc__.split("\n")[0], repeats=15, quick_repeats=3)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated (default: %(default)s)")
    p.add_argument("--deterministic", action="store_true",
                   help="torch.use_deterministic_algorithms(True), as training.seed_everything sets it")
    p.add_argument("--sparse", action="store_true", help="also: sparse embedding gradient + SparseAdam (what-if)")
    args = common.setup(p.parse_args())
    args.number = 1 if args.quick else 3  # steps per timed sample
    torch.use_deterministic_algorithms(args.deterministic)
    info = common.machine()
    tokens = BATCH * LENGTH
    rows, parts, what_if, raw = [], [], [], {}
    for variant in args.variants.split(","):
        t = measure(variant, args)
        raw[variant] = t
        bare = tokens / t["bare"]
        for mode in MODES:
            rows.append(common.row(f"{variant} {mode}", tokens / t[mode], bare, "tok/s", TARGET))
        for name in [SPARSE]:
            if name in t:
                what_if.append(common.row(f"{variant} {name}", tokens / t[name], bare, "tok/s", TARGET))
        ms = lambda k: f"{t[k] * 1e3:.2f}"
        parts.append([variant, ms("bare"), ms("fwd+bwd"), ms("adam"), ms("adam fused"), ms("padded"),
                      f"{(t['padded'] - t['bare']) * 1e3:+.2f}", ms("bare packed"), ms("packed"), ms("bucketed")])
        print(f"  {variant}: done", flush=True)
    shape = f"batch {BATCH}, length {LENGTH}, input {EMBED}, hidden {HIDDEN}, vocabulary {VOCAB}"
    print()
    common.report(rows, args, f"Item 1: project training step vs bare nn.* forward+backward ({shape}; "
                  f"median of {args.repeats})", info, {"what_if": what_if, "seconds": raw})
    print()
    print(common.plain_table(["variant", "bare fwd+bwd", "project fwd+bwd", "default Adam step", "fused Adam step",
                              "project step", "step - bare", "bare packed", "project packed", "project bucketed"],
                             parts, "Where the step's time goes (ms per step; 'project fwd+bwd' = padded model with "
                             "embedding, head, loss, no optimizer; 'bare packed' = nn.* on a PackedSequence)"))
    if what_if:
        print()
        print(common.table(what_if, "What-if (not the project's code): sparse embedding gradient + SparseAdam"))


if __name__ == "__main__":
    main()

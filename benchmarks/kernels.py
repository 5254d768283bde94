"""Issue 7, item 2: GFLOP/s of the recurrent math, divided by sgemm GFLOP/s measured in the same run.

FLOPs counted: the gate matmuls only, input and hidden projections (LSTM 4 gates, GRU 3, RNN 1):
forward = 2 * batch * steps * (input + hidden) * gates * hidden, forward + backward = 3x that.
sgemm = torch.mm of two 2048x2048 float32 matrices (what torch uses for a plain matmul: MKL).
Shape as item 1: batch 64, 50 steps, input 128, hidden 128, one direction, time-major.

Formulations, each checked against nn.* (outputs and all gradients, max relative error):
  nn.*        PyTorch's own layer (LSTM: oneDNN's fused LSTM kernel; GRU, RNN: ATen's cell loop)
  hoisted     all steps' input projections in one matmul, then a per-step loop of autograd ops
  hoisted+jit the same loop compiled with torch.jit.script (autograd still records every op)
  fused       rnnlab.fused (GRU, RNN): hand-written backward, C++ step loops (TorchScript fallback)

The last table bounds any formulation built from matmul calls: the per-step h @ W_hh is a
[64 x 128] x [128 x gates*128] multiply that cannot run at big-sgemm speed.

    .venv/bin/python -m benchmarks.kernels [--quick] [--repeats N] [--threads N] [--json PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python benchmarks/kernels.py): make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from benchmarks import common
from rnnlab import fused

BATCH, STEPS, INPUT, HIDDEN = 64, 50, 128, 128
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
TARGET_SGEMM = {"GRU": 0.45, "RNN": 0.45}  # LSTM: no target (nn.LSTM ~0.60 in toolchain.md)


def flops(cell: str) -> float:
    return 3 * 2 * BATCH * STEPS * (INPUT + HIDDEN) * GATES[cell] * HIDDEN


# ------------------------------------------------------------------ formulations
# Each takes (x [T, B, I], w_ih, w_hh, b_ih, b_hh) and returns outputs [T, B, H], h0 = 0.

def _step(cell: str, gi: Tensor, gh: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    H = h.shape[1]
    if cell == "LSTM":
        i, f, g, o = (gi + gh).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    if cell == "GRU":
        rz = torch.sigmoid(gi[:, :2 * H] + gh[:, :2 * H])
        r, z = rz[:, :H], rz[:, H:]
        n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return n + z * (h - n), c
    return torch.tanh(gi + gh), c


def hoisted(cell: str):
    def run(x, w_ih, w_hh, b_ih, b_hh):
        gi = F.linear(x, w_ih, b_ih)  # every step's input side in one matmul
        h = c = x.new_zeros(x.shape[1], w_hh.shape[1])
        outs = []
        for t in range(x.shape[0]):
            h, c = _step(cell, gi[t], F.linear(h, w_hh, b_hh), h, c)
            outs.append(h)
        return torch.stack(outs)
    return run


def _lstm_jit(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    gi = F.linear(x, w_ih, b_ih)
    h = x.new_zeros(x.shape[1], w_hh.shape[1])
    c = h
    outs: list[Tensor] = []
    for t in range(x.shape[0]):
        i, f, g, o = (gi[t] + F.linear(h, w_hh, b_hh)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs)


def _gru_jit(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    gi = F.linear(x, w_ih, b_ih)
    H = w_hh.shape[1]
    h = x.new_zeros(x.shape[1], H)
    outs: list[Tensor] = []
    for t in range(x.shape[0]):
        gh = F.linear(h, w_hh, b_hh)
        rz = torch.sigmoid(gi[t, :, :2 * H] + gh[:, :2 * H])
        n = torch.tanh(gi[t, :, 2 * H:] + rz[:, :H] * gh[:, 2 * H:])
        h = n + rz[:, H:] * (h - n)
        outs.append(h)
    return torch.stack(outs)


def _rnn_jit(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    gi = F.linear(x, w_ih, b_ih)
    h = x.new_zeros(x.shape[1], w_hh.shape[1])
    outs: list[Tensor] = []
    for t in range(x.shape[0]):
        h = torch.tanh(gi[t] + F.linear(h, w_hh, b_hh))
        outs.append(h)
    return torch.stack(outs)


_lstm_jit, _gru_jit, _rnn_jit = (fused._script(f) for f in (_lstm_jit, _gru_jit, _rnn_jit))  # quiet about deprecation


def _fused(layer):
    def run(x, w_ih, w_hh, b_ih, b_hh):
        return layer(x, x.new_zeros(x.shape[1], w_hh.shape[1]), w_ih, w_hh, b_ih, b_hh)[0]
    return run


def formulations(cell: str, module: nn.Module) -> dict:
    """name -> fn(x, *weights) -> outputs."""
    out = {f"nn.{cell}": lambda x, *w: module(x)[0],
           "hoisted": hoisted(cell),
           "hoisted+jit": {"LSTM": _lstm_jit, "GRU": _gru_jit, "RNN": _rnn_jit}[cell]}
    if cell in ("GRU", "RNN"):
        out["fused"] = _fused(fused.gru_layer if cell == "GRU" else fused.rnn_layer)
    return out


# ------------------------------------------------------------------ checks and timing

def max_rel_error(cell: str, fn, module: nn.Module) -> float:
    """Largest |difference| / max |reference| over outputs and the gradients of x and all weights."""
    torch.manual_seed(1)
    x = torch.randn(STEPS, BATCH, INPUT)
    upstream = torch.randn(STEPS, BATCH, HIDDEN)
    weights = list(module.parameters())
    results = []
    for f in (lambda x, *w: module(x)[0], fn):
        xr = x.clone().requires_grad_()
        out = f(xr, *weights)
        grads = torch.autograd.grad((out * upstream).sum(), [xr, *weights])
        results.append([out.detach(), *grads])
    return max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(results[1], results[0]))


def train_call(fn, module: nn.Module):
    """forward + backward of fn at the benchmark shape (input gradient included)."""
    x = torch.randn(STEPS, BATCH, INPUT, requires_grad=True)
    weights = list(module.parameters())

    def call():
        x.grad = None
        for w in weights:
            w.grad = None
        fn(x, *weights).sum().backward()
    return call


def matmul_gflops(m: int, k: int, n: int, repeats: int, onednn: bool = False) -> float:
    """GFLOP/s of [m x k] @ [k x n] (torch.mm = MKL; onednn = the oneDNN path rnnlab.fused uses)."""
    a, w = torch.randn(m, k), torch.randn(n, k)
    fn = (lambda: fused._linear(a, w)) if onednn else (lambda: torch.mm(a, w.t()))
    number = max(1, int(2e8 // (2 * m * k * n)))  # ~0.2 GFLOP per timed sample
    return 2 * m * k * n / common.median_time(fn, repeats, number) / 1e9


def main() -> None:
    p = common.parser(__doc__.split("\n")[0], repeats=15, quick_repeats=3)
    args = common.setup(p.parse_args())
    info = common.machine()
    number = 1 if args.quick else 3
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    sgemm = lambda: torch.mm(a, b)
    rows, speedups, errors, gflops = [], [], {}, {}
    sgemm_samples = []
    for cell in GATES:
        torch.manual_seed(0)
        module = getattr(nn, cell)(INPUT, HIDDEN)
        forms = formulations(cell, module)
        for name, fn in forms.items():
            if not name.startswith("nn."):
                errors[f"{cell} {name}"] = max_rel_error(cell, fn, module)
        # sgemm is timed in the same rounds as the recurrences, so both see the same machine load
        calls = {"sgemm": sgemm, **{name: train_call(fn, module) for name, fn in forms.items()}}
        t = common.interleaved(calls, args.repeats, number=number, warmup=2)
        sgemm_samples.append(2 * 2048 ** 3 / t.pop("sgemm") / 1e9)
        gflops[cell] = {name: flops(cell) / s / 1e9 for name, s in t.items()}
        print(f"  {cell}: done", flush=True)
    sg = sorted(sgemm_samples)[len(sgemm_samples) // 2]
    for cell, by_name in gflops.items():
        ref = by_name[f"nn.{cell}"]
        for name, g in by_name.items():
            err = errors.get(f"{cell} {name}")
            note = "" if err is None else f"max rel. error vs nn.{cell} (outputs, grads) {err:.1e}"
            rows.append(common.row(f"{cell} {name}", g, sg, "GFLOP/s", TARGET_SGEMM.get(cell), note=note))
            if not name.startswith("nn."):
                speedups.append(common.row(f"{cell} {name} vs nn.{cell}", g, ref, "GFLOP/s", 1.0))
    print()
    common.report(rows, args, f"Item 2: recurrent math GFLOP/s / sgemm (torch.mm 2048^2) GFLOP/s "
                  f"(batch {BATCH}, {STEPS} steps, {INPUT} -> {HIDDEN}, forward+backward; median of {args.repeats})",
                  info, {"speedups": speedups, "errors": errors})
    print()
    print(common.table(speedups, "Formulations vs nn.* (target: none slower, ratio >= 1)"))
    print()
    bound(args, sg)


def bound(args, sgemm: float) -> None:
    """Matmul speeds at the recurrences' shapes, and the GFLOP/s they allow with free element-wise work.

    2/3 of the counted FLOPs (x @ W_ih^T, dx, dW_ih, dW_hh) can be one big matmul each; the other 1/3
    (h @ W_hh^T forward, dgates @ W_hh backward) is 2 x steps small [batch x hidden] matmuls in sequence.
    """
    lines, bounds = [], []
    r = max(3, args.repeats // 3)
    for cell in ("GRU", "RNN", "LSTM"):
        gh = GATES[cell] * HIDDEN
        for lib, onednn in (("MKL", False), ("oneDNN", True)):
            small = (matmul_gflops(BATCH, HIDDEN, gh, r, onednn) + matmul_gflops(BATCH, gh, HIDDEN, r, onednn)) / 2
            big = matmul_gflops(BATCH * STEPS, INPUT, gh, r, onednn)
            best = 1 / (2 / 3 / big + 1 / 3 / small)  # all element-wise work and overhead free
            lines.append([f"{cell} {lib}", f"{small:.0f}", f"{big:.0f}", f"{best:.0f}", f"{best / sgemm:.2f}"])
            bounds.append({"cell": cell, "lib": lib, "small": small, "big": big, "bound": best})
    big_dnnl = matmul_gflops(2048, 2048, 2048, r, onednn=True)
    print(common.plain_table(
        ["cell, matmul library", "per-step matmul GF/s", "all-steps matmul GF/s", "bound GF/s", "bound / sgemm"], lines,
        f"Bound from the matmuls alone (sgemm torch.mm 2048^2 = {sgemm:.0f} GFLOP/s; oneDNN 2048^2 = "
        f"{big_dnnl:.0f} GFLOP/s)"))
    if args.json:  # append to the file report() wrote
        import json
        data = json.loads(args.json.read_text())
        data.update({"bounds": bounds, "onednn_2048_gflops": big_dnnl})
        args.json.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()

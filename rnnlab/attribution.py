"""Integrated-Gradients token attributions (Captum) for text classifiers, as HTML and PNG.

Attributions are taken at the embedding layer against an all-padding baseline, for the probability
of the positive class. Integrated Gradients is complete: the token attributions sum to
P(x) - P(baseline). How far the quadrature is from that is the convergence delta, reported for
every attribution. A recurrent model's P(positive) can change steeply over a short stretch of the
path from the baseline, where a uniform rule needs thousands of points; so the path is integrated
adaptively: Gauss-Legendre on segments, the segment with the largest error split in two, until
the delta is within the bound or the step cap is spent. An attribution that misses the bound is
kept and marked `converged: false`; the caller decides whether that is fatal.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from captum.attr import IntegratedGradients

from rnnlab import device
from rnnlab.batching import pad
from rnnlab.vocab import tokenize


@dataclass
class Attribution:
    text: str
    tokens: list[str]
    scores: list[float]   # one per token; > 0 pushes towards the positive class
    prob: float           # P(positive | text)
    delta: float          # |sum(scores) - (P(x) - P(baseline))|
    n_steps: int          # gradient evaluations in the final quadrature rule
    converged: bool       # delta <= the bound it was asked for

    def miss(self, model_name: str, bound: float) -> str:
        """One line naming the model and the sentence, for a warning or an error."""
        return (f"attributions of {model_name} for {self.text[:40]!r}: completeness delta {self.delta:.3g} > {bound} "
                f"even with {self.n_steps} steps")


@dataclass
class _Segment:
    lo: float
    hi: float
    scores: torch.Tensor  # per-token attribution of this stretch of the path
    delta: float          # signed: sum(scores) - (P(hi) - P(lo)); the deltas of all segments add up


def attribute(model: torch.nn.Module, config: dict, vocab, text: str, positive: int, n_steps: int = 64,
              max_delta: float = 0.05, max_steps: int = 4096) -> Attribution:
    """Token attributions for one text: adaptive Gauss-Legendre segments of n_steps points each."""
    # on a GPU: cuDNN's recurrent backward runs in training mode only, and IG differentiates the
    # eval-mode model, so PyTorch's own CUDA kernels compute it (no effect on the CPU)
    with torch.backends.cudnn.flags(enabled=False):
        return _attribute(model, config, vocab, text, positive, n_steps, max_delta, max_steps)


def _attribute(model, config, vocab, text, positive, n_steps, max_delta, max_steps) -> Attribution:
    model.eval()  # dropout off
    ids = vocab.encode(text, config["max_len"])
    tokens = tokenize(text, vocab.lowercase)[: len(ids)]  # as written: digits shown, not their shapes
    pad_to = config["max_len"] if config["input_mode"] == "padded" else None
    x, lengths = device.to(*pad([ids], pad_to))
    with torch.no_grad():
        end, start = model.embedding(x), model.embedding(torch.zeros_like(x))  # all padding: "no words"

    def prob(embedded, lengths_):
        return torch.softmax(model.head(model.dropout(model.encoder(embedded, lengths_))), dim=1)

    ig = IntegratedGradients(prob)

    def segment(lo: float, hi: float) -> _Segment:
        attr, delta = ig.attribute(start + hi * (end - start), baselines=start + lo * (end - start), target=positive,
                                   additional_forward_args=(lengths,), n_steps=n_steps, method="gausslegendre",
                                   return_convergence_delta=True)
        return _Segment(lo, hi, attr.sum(-1)[0, : len(ids)].detach(), float(delta[0]))

    segments = [segment(0.0, 1.0)]
    while abs(sum(s.delta for s in segments)) > max_delta and (len(segments) + 1) * n_steps <= max_steps:
        worst = max(segments, key=lambda s: abs(s.delta))
        mid = (worst.lo + worst.hi) / 2
        segments.remove(worst)
        segments += [segment(worst.lo, mid), segment(mid, worst.hi)]
    delta = abs(sum(s.delta for s in segments))
    scores = torch.stack([s.scores for s in segments]).sum(0).tolist()
    with torch.no_grad():
        p = float(prob(end, lengths)[0, positive])
    # the delta to 3 significant digits: rounded to 6 decimals, a miss of a tiny bound would read 0.0
    return Attribution(text, tokens, [round(s, 6) for s in scores], round(p, 6), float(f"{delta:.3g}"),
                       len(segments) * n_steps, delta <= max_delta)


def _rgba(score: float, scale: float) -> tuple[float, float, float, float]:
    a = min(abs(score) / scale, 1.0) if scale > 0 else 0.0
    return (0.1, 0.6, 0.2, 0.75 * a) if score > 0 else (0.85, 0.15, 0.15, 0.75 * a)


def tokens_html(a: Attribution) -> str:
    scale = max((abs(s) for s in a.scores), default=0.0)
    spans = []
    for tok, s in zip(a.tokens, a.scores):
        r, g, b, al = _rgba(s, scale)
        spans.append(f'<span title="{s:+.4f}" style="background: rgba({int(r*255)},{int(g*255)},{int(b*255)},{al:.2f});'
                     f' padding: 1px 3px; border-radius: 3px">{html.escape(tok)}</span>')
    return " ".join(spans)


def _cell_head(a: Attribution) -> str:
    check = f"delta {a.delta:.1e}, {a.n_steps} steps"
    if not a.converged:  # shown where people look: the scores do not add up to the change in P(positive)
        check = f"<b class='miss' style='color:#b00'>not converged: {check}</b>"
    return f"<div>P(positive) = <b>{a.prob:.4f}</b> <small>({check})</small></div>"


def page(title: str, columns: list[str], rows: list[list[Attribution]]) -> str:
    """One HTML page: a row per sentence, a column per model, colored tokens and P(positive)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = "".join(f"<td>{_cell_head(a)}<div style='margin-top:4px; line-height:1.9'>{tokens_html(a)}</div></td>"
                        for a in row)
        body.append(f"<tr><td><i>{html.escape(row[0].text)}</i></td>{cells}</tr>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} "
            "td,th{border:1px solid #ccc;padding:8px;vertical-align:top;max-width:28em}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>Integrated Gradients (Captum) on the embedding layer, target P(positive), "
            "baseline all padding. <span style='background:rgba(25,153,51,.6)'>green</span> pushes towards positive, "
            "<span style='background:rgba(216,38,38,.6)'>red</span> towards negative; hover a token for its score.</p>"
            f"<table><tr><th>sentence</th>{head}</tr>{''.join(body)}</table></body></html>")


def plot(columns: list[str], rows: list[list[Attribution]], path: Path, width: float = 5.2) -> None:
    """The same comparison as a PNG: one panel per (sentence, model), tokens on colored boxes."""
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(width * len(columns), 1.25 * len(rows)), squeeze=False)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for i, row in enumerate(rows):
        for j, a in enumerate(row):
            ax = axes[i][j]
            ax.set_axis_off()
            ax.set_xlim(0, 1), ax.set_ylim(0, 1)
            if i == 0:
                ax.set_title(columns[j], fontsize=9)
            note, color = ("", "black") if a.converged else (f"  not converged (delta {a.delta:.2g})", "#b00")
            ax.text(0, 0.92, f"P(positive) = {a.prob:.3f}{note}", fontsize=8, weight="bold", va="top", color=color)
            _draw_tokens(ax, a, renderer)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _draw_tokens(ax, a: Attribution, renderer) -> None:
    scale = max((abs(s) for s in a.scores), default=0.0)
    x, y = 0.0, 0.62
    box = ax.get_window_extent(renderer)
    for tok, s in zip(a.tokens, a.scores):
        t = ax.text(x, y, tok, fontsize=8, va="top", bbox=dict(boxstyle="round,pad=0.15", fc=_rgba(s, scale), ec="none"))
        w = t.get_window_extent(renderer).width / box.width + 0.012
        if x + w > 1.0 and x > 0:  # wrap
            x, y = 0.0, y - 0.3
            t.set_position((x, y))
        x += w

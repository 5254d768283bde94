"""Captum attributions on real (tiny, quickly trained) models: completeness, bidirectional, pages."""

import numpy as np
import pytest
import torch

from rnnlab import attribution
from rnnlab.batching import pad
from rnnlab.models import RecurrentClassifier
from rnnlab.vocab import Vocabulary

POS = ["a great film", "great acting and a great story", "wonderful and great", "i loved it , great"]
NEG = ["a terrible film", "terrible acting and a dull story", "dull and terrible", "i hated it , terrible"]


def _trained(variant: str, input_mode: str) -> tuple[RecurrentClassifier, dict, Vocabulary]:
    torch.manual_seed(0)
    vocab = Vocabulary.build(POS + NEG)
    emb = np.random.default_rng(0).normal(scale=0.3, size=(len(vocab), 8)).astype(np.float32)
    emb[0] = 0  # the padding row is zero in every real embedding matrix: the baseline is "no words"
    model = RecurrentClassifier(emb, variant, 2, hidden=8, dropout=0.0, input_mode=input_mode)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)  # gently: an overfit toy model has near-steps that no Riemann sum integrates
    x, n = pad([vocab.encode(t) for t in NEG + POS], 12 if input_mode == "padded" else None)
    y = torch.tensor([0] * 4 + [1] * 4)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x, n), y).backward()
        opt.step()
    config = {"max_len": 12, "input_mode": input_mode, "labels": ["neg", "pos"]}
    return model.eval(), config, vocab


@pytest.mark.parametrize("variant, input_mode", [("bilstm", "bucketed"), ("bigru", "packed"), ("gru", "padded")])
def test_attributions_are_complete_and_point_the_right_way(variant, input_mode):
    model, config, vocab = _trained(variant, input_mode)
    good = attribution.attribute(model, config, vocab, "a great story", positive=1, n_steps=32, max_delta=0.02)
    bad = attribution.attribute(model, config, vocab, "a terrible story", positive=1, n_steps=32, max_delta=0.02)
    assert good.prob > 0.8 and bad.prob < 0.2
    assert good.tokens == ["a", "great", "story"] and len(good.scores) == 3
    assert good.delta <= 0.02 and bad.delta <= 0.02 and good.converged and bad.converged
    # completeness: attributions add up to P(x) - P(baseline)
    with torch.no_grad():
        base = torch.softmax(model(*pad([[0, 0, 0]], 12 if input_mode == "padded" else None)), 1)[0, 1].item()
    assert sum(good.scores) == pytest.approx(good.prob - base, abs=0.01)
    assert good.scores[1] > bad.scores[1]  # "great" pushes towards positive more than "terrible" does


def _steep(scale: float):
    """The toy model with its head scaled up: P(positive) turns from 0 to 1 over a short stretch of the path."""
    model, config, vocab = _trained("bilstm", "bucketed")
    with torch.no_grad():
        model.head.weight *= scale
        model.head.bias *= scale
    return model, config, vocab


def test_adaptive_segments_meet_the_bound_where_a_uniform_rule_does_not():
    from captum.attr import LayerIntegratedGradients

    model, config, vocab = _steep(1000)
    a = attribution.attribute(model, config, vocab, "a terrible story", positive=1, n_steps=64, max_delta=0.02)
    assert a.converged and a.delta <= 0.02 and 64 < a.n_steps <= 4096
    x, n = pad([vocab.encode("a terrible story")], None)
    lig = LayerIntegratedGradients(lambda t, l: torch.softmax(model(t, l), 1), model.embedding)
    _, uniform = lig.attribute(x, baselines=torch.zeros_like(x), additional_forward_args=(n,), target=1, n_steps=1024,
                               return_convergence_delta=True)
    assert float(uniform.abs().max()) > 0.5  # 1,024 evenly spaced points miss the step altogether


def test_a_model_that_cannot_meet_the_bound_is_flagged_not_fatal(tmp_path):
    model, config, vocab = _steep(1000)
    a = attribution.attribute(model, config, vocab, "a terrible story", positive=1, n_steps=64, max_delta=0.02,
                              max_steps=128)
    assert not a.converged and a.delta > 0.02 and a.n_steps == 128
    assert a.miss("imdb_deck/bilstm", 0.02).startswith("attributions of imdb_deck/bilstm for 'a terrible story': "
                                                       "completeness delta")
    page = attribution.page("t", ["bilstm"], [[a]])
    assert "not converged: delta" in page and "128 steps" in page
    attribution.plot(["bilstm"], [[a]], tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0


def test_pages_and_png(tmp_path):
    model, config, vocab = _trained("bilstm", "bucketed")
    rows = [[attribution.attribute(model, config, vocab, s, 1)] for s in ("a great film", "dull <b>")]
    page = attribution.page("t", ["bilstm"], rows)
    assert "P(positive) = <b>" in page and "&lt;b&gt;" in page and "<b>story</b>" not in page
    assert "not converged" not in page
    attribution.plot(["bilstm"], rows, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"

import numpy as np
import pytest
import torch

from rnnlab.batching import pad
from rnnlab.models import VARIANTS, RecurrentClassifier, parse_variant


def make(variant, input_mode="packed", hidden=8, layers=1, vocab=30, dim=6):
    torch.manual_seed(0)
    emb = np.random.default_rng(0).normal(size=(vocab, dim)).astype(np.float32)
    emb[0] = 0
    return RecurrentClassifier(emb, variant, n_classes=3, hidden=hidden, layers=layers, input_mode=input_mode).eval()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("layers", [1, 2])
def test_every_variant_gives_logits_and_summaries_of_the_right_shape(variant, layers):
    model = make(variant, layers=layers)
    tokens, lengths = pad([[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]])
    directions = 2 if variant.startswith("bi") else 1
    assert model.encode(tokens, lengths).shape == (3, directions * 8)
    assert model(tokens, lengths).shape == (3, 3)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown variant 'transformer'"):
        parse_variant("transformer")


@pytest.mark.parametrize("variant", VARIANTS)
def test_packed_input_ignores_padding(variant):
    model = make(variant)
    seqs = [[3, 4, 5], [6, 7, 8, 9, 10, 11]]
    short, n = pad(seqs)
    long, m = pad(seqs, pad_to=20)
    with torch.no_grad():
        torch.testing.assert_close(model(short, n), model(long, m))
        alone = model(*pad([seqs[0]]))  # no padding at all
        torch.testing.assert_close(model(short, n)[0:1], alone)


def test_padded_input_runs_over_the_padding_as_the_deck_does():
    model = make("rnn", input_mode="padded")
    seqs = [[3, 4, 5]]
    with torch.no_grad():
        assert not torch.allclose(model(*pad(seqs)), model(*pad(seqs, pad_to=20)))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_bidirectional_summary_is_forward_end_joined_with_backward_start(cell):
    model = make("bi" + cell, hidden=5)
    seqs = [[3, 4, 5, 6], [7, 8]]
    tokens, lengths = pad(seqs)
    with torch.no_grad():
        summary = model.encode(tokens, lengths)
        for i, s in enumerate(seqs):
            out, _ = model.rnn(model.embedding(torch.tensor([s])))  # one sequence, no padding
            forward_last, backward_first = out[0, -1, :5], out[0, 0, 5:]
            torch.testing.assert_close(summary[i], torch.cat([forward_last, backward_first]))


def test_frozen_embedding_is_not_trained():
    emb = np.ones((10, 4), dtype=np.float32)
    model = RecurrentClassifier(emb, "lstm", 2, hidden=4, freeze=True)
    assert not model.embedding.weight.requires_grad
    assert model.embedding.padding_idx == 0

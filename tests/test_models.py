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
            out, _ = model.encoder.rnn(model.embedding(torch.tensor([s])))  # one sequence, no padding
            forward_last, backward_first = out[0, -1, :5], out[0, 0, 5:]
            torch.testing.assert_close(summary[i], torch.cat([forward_last, backward_first]))


def test_frozen_embedding_is_not_trained():
    emb = np.ones((10, 4), dtype=np.float32)
    model = RecurrentClassifier(emb, "lstm", 2, hidden=4, freeze=True)
    assert not model.embedding.weight.requires_grad
    assert model.embedding.padding_idx == 0


EXTENDED = ["lstmx2", "cnn-lstm", "bilstm-attn", "cnn-bigrux2-max", "rnn-mean"]


@pytest.mark.parametrize("variant", EXTENDED)
def test_extended_variants_train_and_ignore_padding(variant):
    model = make(variant)
    seqs = [[3, 4, 5], [6, 7, 8, 9, 10, 11]]
    with torch.no_grad():
        torch.testing.assert_close(model(*pad(seqs)), model(*pad(seqs, pad_to=20)))
    model.train()
    model(*pad(seqs)).sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_variant_grammar():
    a = parse_variant("cnn-bilstmx2-attn")
    assert (a.cell, a.bidirectional, a.layers, a.cnn, a.pooling) == ("lstm", True, 2, True, "attn")
    assert parse_variant("gru").pooling == "last" and parse_variant("gru").layers is None
    for bad in ("lstmx9", "bi-lstm", "lstm-attention"):
        with pytest.raises(ValueError, match="unknown variant"):
            parse_variant(bad)


def _packed_weights_into_masked(sd: dict) -> dict:
    """nn.LSTM(bidirectional, layers) parameter names -> MaskedRecurrent's per-layer, per-direction modules."""
    out = {}
    for key, value in sd.items():
        if key.startswith("encoder.rnn."):
            name = key.removeprefix("encoder.rnn.")
            reverse = name.endswith("_reverse")
            base, layer = name.removesuffix("_reverse").rsplit("_l", 1)
            out[f"encoder.rnn.cells.{layer}.{int(reverse)}.{base}_l0"] = value
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("variant", ["rnn", "lstm", "bigru", "bilstmx2", "bilstm-attn", "cnn-lstm", "gru-max"])
def test_bucketed_mode_equals_packed_sequences_exactly(variant):
    packed, bucketed = make(variant, "packed", layers=1), make(variant, "bucketed", layers=1)
    bucketed.load_state_dict(_packed_weights_into_masked(packed.state_dict()))
    tokens, lengths = pad([[3, 4, 5, 6, 7, 8, 9], [10, 11, 12], [13], [14, 15, 16, 17, 18]])
    with torch.no_grad():
        torch.testing.assert_close(bucketed(tokens, lengths), packed(tokens, lengths), atol=1e-5, rtol=1e-5)
    # and the gradients agree too
    for m in (packed, bucketed):
        m.train(False)
        m.zero_grad()
        m(tokens, lengths)[:, 0].sum().backward()
    torch.testing.assert_close(bucketed.embedding.weight.grad, packed.embedding.weight.grad, atol=1e-5, rtol=1e-5)

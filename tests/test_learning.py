"""Every variant learns spam detection on a small real subset of the UCI collection."""

import numpy as np
import pytest

from rnnlab import training
from rnnlab.models import VARIANTS, RecurrentClassifier


@pytest.mark.parametrize("variant, input_mode", [(v, "packed") for v in VARIANTS] + [("gru", "padded")])
def test_variant_learns(sms_small, variant, input_mode):
    vocab, d = sms_small
    training.seed_everything(0)
    emb = np.random.default_rng(0).normal(size=(len(vocab), 32)).astype(np.float32)
    model = RecurrentClassifier(emb, variant, 2, hidden=32, dropout=0.3, input_mode=input_mode)
    pad_to = 40 if input_mode == "padded" else None
    result = training.fit(model, d["train"], d["val"], lr=0.01, batch_size=64, max_epochs=10, patience=3,
                          seed=0, pad_to=pad_to, desc=variant)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.5 * losses[0]
    accuracy = (training.predict_proba(model, d["test"], pad_to=pad_to).argmax(1) == d["test"].labels).mean()
    majority = 1 - d["test"].labels.mean()
    assert accuracy >= 0.93 > majority + 0.06, (accuracy, majority)


def test_seeding_turns_on_deterministic_algorithms_without_loading_the_compiler():
    """torch.use_deterministic_algorithms imports torch._inductor (2-4 s per stage); seed_everything does not."""
    import subprocess
    import sys

    code = ("import sys, torch; from rnnlab import training; training.seed_everything(0); "
            "print(torch.are_deterministic_algorithms_enabled(), 'torch._inductor' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False"]

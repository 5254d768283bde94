"""rnnlab.fused: the same outputs and gradients as nn.GRU / nn.RNN, on every input layout they accept."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab import fused

PAIRS = [(nn.GRU, fused.GRU), (nn.RNN, fused.RNN)]


@pytest.fixture(params=["cpp", "torchscript"], autouse=True)
def step_loops(request, monkeypatch):
    """Every test runs on the C++ step loops and again on the TorchScript fallback."""
    if request.param == "torchscript":
        monkeypatch.setattr(fused, "compiled_steps", lambda: None)
    return request.param
CONFIGS = [{}, {"batch_first": True}, {"bidirectional": True, "batch_first": True}, {"num_layers": 2},
           {"num_layers": 2, "bidirectional": True}]


def twins(ref_cls, new_cls, dtype, input_size=16, hidden=12, **kw):
    torch.manual_seed(0)
    ref = ref_cls(input_size, hidden, **kw).to(dtype)
    new = new_cls(input_size, hidden, **kw).to(dtype)
    new.load_state_dict(ref.state_dict())  # a drop-in: the same parameter names and shapes
    return ref, new


def outputs_and_grads(module, x, h0):
    """Outputs, final states and the gradients of input, initial state and every weight."""
    x, h0 = x.clone().requires_grad_(), h0.clone().requires_grad_()
    out, h_n = module(x, h0)
    weights = torch.linspace(-1, 1, out.numel(), dtype=x.dtype).view_as(out)  # an uneven upstream gradient
    loss = (out * weights).sum() + (h_n * h_n).sum()
    return [out, h_n, *torch.autograd.grad(loss, [x, h0, *module.parameters()])]


def assert_equal(actual, expected, rel):
    for a, e in zip(actual, expected, strict=True):
        a, e = a.detach(), e.detach()
        assert a.shape == e.shape
        err, scale = float((a - e).abs().max()), float(e.abs().max())
        assert err <= rel * scale, err / scale


@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()) or "plain")
@pytest.mark.parametrize("pair", PAIRS, ids=["gru", "rnn"])
@pytest.mark.parametrize("dtype,rel", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["f64", "f32"])
def test_outputs_and_gradients_equal_torch(pair, kw, dtype, rel):
    ref, new = twins(*pair, dtype, **kw)
    batch, steps = 7, 5
    x = torch.randn((batch, steps, 16) if kw.get("batch_first") else (steps, batch, 16), dtype=dtype)
    h0 = torch.randn(kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1), batch, 12, dtype=dtype)
    assert_equal(outputs_and_grads(new, x, h0), outputs_and_grads(ref, x, h0), rel)


@pytest.mark.parametrize("pair", PAIRS, ids=["gru", "rnn"])
def test_equal_at_the_benchmark_shape_in_float32(pair):
    """batch 64, 50 steps, 128 -> 128: 50 steps of float32 rounding stay within 1e-5 of the largest value."""
    ref, new = twins(*pair, torch.float32, input_size=128, hidden=128, batch_first=True)
    x, h0 = torch.randn(64, 50, 128), torch.zeros(1, 64, 128)
    assert_equal(outputs_and_grads(new, x, h0), outputs_and_grads(ref, x, h0), 1e-5)


@pytest.mark.parametrize("pair", PAIRS, ids=["gru", "rnn"])
def test_without_initial_state_and_unbatched(pair):
    ref, new = twins(*pair, torch.float64, batch_first=True)
    x = torch.randn(3, 6, 16, dtype=torch.float64)
    for a, b in zip(new(x), ref(x)):
        torch.testing.assert_close(a, b)
    for a, b in zip(new(x[0]), ref(x[0])):  # [steps, features]: no batch dimension
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("pair", PAIRS, ids=["gru", "rnn"])
def test_variable_lengths_padded_and_packed(pair):
    """Padded batches of ragged sequences: each sequence's state at its last real step equals a run on it alone;
    PackedSequence input goes through PyTorch's own kernel and so equals nn.* exactly."""
    ref, new = twins(*pair, torch.float64, batch_first=True)
    lengths = torch.tensor([6, 2, 4])
    x = torch.randn(3, 6, 16, dtype=torch.float64)
    out, _ = new(x)
    for i, n in enumerate(lengths.tolist()):
        alone, h = new(x[i:i + 1, :n])
        torch.testing.assert_close(out[i, n - 1], h[0, 0])
        torch.testing.assert_close(out[i, :n], alone[0])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    (p_new, h_new), (p_ref, h_ref) = new(packed), ref(packed)
    torch.testing.assert_close(pad_packed_sequence(p_new, batch_first=True)[0],
                               pad_packed_sequence(p_ref, batch_first=True)[0])
    torch.testing.assert_close(h_new, h_ref)


@pytest.mark.parametrize("pair", PAIRS, ids=["gru", "rnn"])
def test_outputs_can_be_modified_in_place_as_torchs_can(pair):
    ref, new = twins(*pair, torch.float64)
    x = torch.randn(5, 2, 16, dtype=torch.float64)
    results = []
    for module in (ref, new):
        xr = x.clone().requires_grad_()
        out, h_n = module(xr)
        out.mul_(2), h_n.add_(1)
        (out.sum() + (h_n * h_n).sum()).backward()
        results.append([out, h_n, xr.grad])
    assert_equal(results[1], results[0], 1e-12)


def test_gradcheck_of_the_layer_functions():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    for layer, gates in ((fused.gru_layer, 3), (fused.rnn_layer, 1)):
        w = [torch.randn(gates * 6, n, dtype=torch.float64, requires_grad=True) for n in (5, 6)]
        b = [torch.randn(gates * 6, dtype=torch.float64, requires_grad=True) for _ in range(2)]
        assert torch.autograd.gradcheck(lambda *a: layer(*a), (x, h0, *w, *b))


def test_unsupported_settings_fall_back_to_torch():
    torch.manual_seed(0)
    ref, new = nn.RNN(4, 3, nonlinearity="relu", bias=False), fused.RNN(4, 3, nonlinearity="relu", bias=False)
    new.load_state_dict(ref.state_dict())
    x = torch.randn(5, 2, 4)
    torch.testing.assert_close(new(x)[0], ref(x)[0])


class TestThisMachine:
    @pytest.fixture
    def step_loops(self):
        """As they are: no fallback forced."""

    def test_the_fast_paths_are_in_use(self, step_loops):
        """Here (g++ on the machine, the pinned torch) the step loops are the C++ ones, the fallback loops
        compile to TorchScript, and the big matmuls take MKL's pinned branch (oneDNN has no reproducible mode)
        unless the kernels are native, where AMD CPUs take oneDNN."""
        from rnnlab import determinism

        assert fused.compiled_steps() is not None and fused.SCRIPTED
        assert fused.ONEDNN == (not determinism.portable() and fused._cpu_vendor() != "GenuineIntel")


def test_a_lock_left_by_a_killed_build_is_cleared_and_a_live_one_kept(tmp_path):
    import os
    import time

    stale, live = tmp_path / "stale", tmp_path / "live"
    for lock in (stale, live):
        lock.write_text("")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fused._clear_stale_lock(stale)
    fused._clear_stale_lock(live)
    assert not stale.exists() and live.exists()

"""Faster GRU and Elman RNN layers for the CPU, equal to nn.GRU / nn.RNN in outputs and gradients.

Why they are faster (benchmarks/kernels.py measures it):
  * all time steps' input projections x @ W_ih^T are one big matrix multiply, and so are the
    backward pass's dx, dW_ih and dW_hh: only h @ W_hh^T (forward) and dgates @ W_hh (backward)
    stay inside the per-step loop;
  * the backward pass is written by hand (a custom autograd Function), so a step costs one
    small matmul plus a few element-wise ops instead of PyTorch's per-op autograd graph;
  * the per-step loops are C++ (fused_steps.cpp, built once per machine by torch.utils.cpp_extension):
    a step is one BLAS call plus one vectorised pass over the batch computing every gate, where
    separate ops cost ~10-20 us each at batch 64. Without a compiler they run as TorchScript,
    slower but equal;
  * the big float32 matmuls go through MKL (torch.mm), whose pinned branch gives the same bits on
    any CPU (rnnlab/determinism.py). With RNNLAB_KERNELS=native they go through oneDNN
    (torch.ops.mkldnn._linear_pointwise, a private op) on AMD CPUs, where MKL runs only its AVX2
    code (about half the speed), and through MKL on Intel, where it is as fast.

    GRU(...), RNN(...)           drop-in nn.GRU / nn.RNN subclasses (same parameters, state_dict)
    gru_layer(x, h0, w_ih, w_hh, b_ih, b_hh)   one direction of one layer, time-major [T, B, *]
    rnn_layer(x, h0, w_ih, w_hh, b_ih, b_hh)   the same for the tanh Elman RNN

PackedSequence inputs, bias=False, relu RNNs and proj_size fall back to PyTorch's own forward.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import time
import warnings
from pathlib import Path
from typing import List, Optional, Union

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.utils.rnn import PackedSequence

from rnnlab import determinism

DEPENDS_ON = ("fused_steps.cpp",)  # the C++ step loops, compiled on first use (compiled_steps)


def _cpu_vendor() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("vendor_id")), "")
    except OSError:
        return ""


# MKL (torch.mm) runs only its AVX2 code on AMD CPUs, where oneDNN's AVX-512 is about twice as fast
# for the big matmuls; on Intel MKL is as fast, and it takes transposed operands without a copy.
# That choice depends on the CPU, so it is made only where results may (RNNLAB_KERNELS=native).
ONEDNN = (not determinism.portable() and torch.backends.mkldnn.is_available()
          and hasattr(torch.ops.mkldnn, "_linear_pointwise") and _cpu_vendor() != "GenuineIntel")


def _script(fn):
    """TorchScript takes the per-op interpreter cost out of the step loops (15-25% of a GRU step here).

    torch.jit.script is deprecated in this torch (it still works): should it fail or go away,
    the same function runs as plain Python, slower but equal.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(fn)
    except Exception:  # noqa: BLE001 - any scripting failure: keep the eager function
        return fn


def _linear_onednn(a: Tensor, w: Tensor, b: Optional[Tensor] = None) -> Tensor:
    """a @ w.T (+ b); w may be any strided view, a should be contiguous."""
    if a.dtype == torch.float32 and a.device.type == "cpu":
        scalars: List[Optional[Union[int, float, complex]]] = []
        return torch.ops.mkldnn._linear_pointwise(a, w, b, "none", scalars, "")
    if b is None:
        return torch.mm(a, w.t())
    return torch.addmm(b, a, w.t())


def _linear_plain(a: Tensor, w: Tensor, b: Optional[Tensor] = None) -> Tensor:
    if b is None:
        return torch.mm(a, w.t())
    return torch.addmm(b, a, w.t())


_linear = _script(_linear_onednn if ONEDNN else _linear_plain)


def _weight_grad(g: Tensor, x: Tensor) -> Tensor:
    """g^T @ x for g [N, P], x [N, Q]. oneDNN: copying the smaller x^T beats a transposed g (AMD);
    MKL reads the transposed g in place, and the copy would cost as much as the product (Intel)."""
    if ONEDNN:
        return _linear(x.t().contiguous(), g.t()).t()
    return torch.mm(g.t(), x)


# ---------------------------------------------------------------- GRU
# r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(... z ...), n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),
# h' = (1 - z) ⊙ n + z ⊙ h   (PyTorch's gate order r, z, n)

def _gru_forward_loop(gi: Tensor, hs: Tensor, w_hh: Tensor, b_hh: Tensor, rz: Tensor, n: Tensor, ghn: Tensor):
    H = hs.shape[2]
    for t in range(gi.shape[0]):
        gh = _linear(hs[t], w_hh, b_hh)
        torch.sigmoid(torch.add(gi[t, :, :2 * H], gh[:, :2 * H]), out=rz[t])
        ghn[t] = gh[:, 2 * H:]  # kept: the backward pass needs W_hn h + b_hn
        torch.tanh(torch.addcmul(gi[t, :, 2 * H:], rz[t, :, :H], ghn[t]), out=n[t])
        torch.lerp(n[t], hs[t], rz[t, :, H:], out=hs[t + 1])  # n + z (h - n)


def _gru_backward_loop(d_out: Optional[Tensor], dnext: Tensor, hs: Tensor, rz: Tensor, n: Tensor, ghn: Tensor,
                       w_hh: Tensor, dgi: Tensor, dgh: Tensor) -> Tensor:
    """Fills dgi / dgh (gradients of the input-side and hidden-side pre-activations); returns dh0."""
    H = n.shape[2]
    w_hh_t = w_hh.t()
    for i in range(n.shape[0]):
        t = n.shape[0] - 1 - i
        r, z, nt, hp = rz[t, :, :H], rz[t, :, H:], n[t], hs[t]
        dh = dnext
        if d_out is not None:
            dh = d_out[t] + dnext
        omz = 1 - z
        dn = torch.mul(dh * omz, 1 - nt * nt, out=dgi[t, :, 2 * H:])
        torch.mul(dh * (hp - nt), z * omz, out=dgi[t, :, H:2 * H])
        torch.mul(dn * ghn[t], r * (1 - r), out=dgi[t, :, :H])
        dgh[t, :, :2 * H] = dgi[t, :, :2 * H]
        torch.mul(dn, r, out=dgh[t, :, 2 * H:])  # the hidden part of n sits inside r ⊙ (...)
        dnext = _linear(dgh[t], w_hh_t, None).add_(dh * z)
    return dnext


_gru_forward_loop, _gru_backward_loop = _script(_gru_forward_loop), _script(_gru_backward_loop)


class _GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        T, B, _ = x.shape
        H = h0.shape[1]
        gi = _linear(x.reshape(T * B, -1), w_ih, b_ih).view(T, B, 3 * H)  # every step's input side at once
        hs = x.new_empty(T + 1, B, H)
        hs[0] = h0
        rz, n, ghn = x.new_empty(T, B, 2 * H), x.new_empty(T, B, H), x.new_empty(T, B, H)
        _loops("gru_forward")(gi, hs, w_hh, b_hh, rz, n, ghn)
        ctx.save_for_backward(x, w_ih, w_hh, hs, rz, n, ghn)
        return hs[1:].clone(), hs[T].clone()  # own storage: callers may modify them in place

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hn):
        x, w_ih, w_hh, hs, rz, n, ghn = ctx.saved_tensors
        T, B, H = n.shape
        dgi, dgh = x.new_empty(T, B, 3 * H), x.new_empty(T, B, 3 * H)
        dnext = d_hn.contiguous() if d_hn is not None else torch.zeros_like(hs[0])
        d_out = d_out.contiguous() if d_out is not None else None
        dh0 = _loops("gru_backward")(d_out, dnext, hs, rz, n, ghn, w_hh, dgi, dgh)
        dgi, dgh = dgi.view(T * B, 3 * H), dgh.view(T * B, 3 * H)
        dx = _linear(dgi, w_ih.t()).view_as(x)
        dw_ih = _weight_grad(dgi, x.reshape(T * B, -1))
        dw_hh = _weight_grad(dgh, hs[:-1].reshape(T * B, H))
        return dx, dh0, dw_ih, dw_hh, dgi.sum(0), dgh.sum(0)


def gru_layer(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> tuple[Tensor, Tensor]:
    """One GRU direction: x [T, B, I], h0 [B, H] -> (outputs [T, B, H], h_T [B, H])."""
    return _GRUFunction.apply(x.contiguous(), h0.contiguous(), w_ih, w_hh, b_ih, b_hh)


# ---------------------------------------------------------------- Elman RNN (tanh)

def _rnn_forward_loop(pre: Tensor, hs: Tensor, w_hh: Tensor):
    w_hh_t = w_hh.t()
    for t in range(pre.shape[0]):
        # at 64x128x128 MKL's addmm is as fast as oneDNN and adds the input side for free
        torch.tanh(torch.addmm(pre[t], hs[t], w_hh_t), out=hs[t + 1])


def _rnn_backward_loop(d_out: Optional[Tensor], dnext: Tensor, hs: Tensor, w_hh: Tensor, dpre: Tensor) -> Tensor:
    for i in range(dpre.shape[0]):
        t = dpre.shape[0] - 1 - i
        dh = dnext
        if d_out is not None:
            dh = d_out[t] + dnext
        h = hs[t + 1]
        torch.mul(dh, 1 - h * h, out=dpre[t])
        dnext = torch.mm(dpre[t], w_hh)
    return dnext


_rnn_forward_loop, _rnn_backward_loop = _script(_rnn_forward_loop), _script(_rnn_backward_loop)
SCRIPTED = all(isinstance(f, torch.jit.ScriptFunction) for f in (_gru_forward_loop, _gru_backward_loop,
                                                                 _rnn_forward_loop, _rnn_backward_loop))


@functools.cache
def compiled_steps():
    """The C++ step loops (torch.ops.rnnlab_fused), or None where they cannot be built.

    Built on first use into torch's extension cache (~20 s once per machine and flags);
    RNNLAB_FUSED_CPP=0 keeps the TorchScript loops.
    """
    if os.environ.get("RNNLAB_FUSED_CPP", "1") == "0":
        return None
    from torch.utils import cpp_extension

    capability = torch.backends.cpu.get_cpu_capability()
    vector = ["-mavx2", "-mfma"] if capability in ("AVX2", "AVX512") else []
    if capability == "AVX512":
        vector += ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mprefer-vector-width=512"]
    source = Path(__file__).with_name("fused_steps.cpp")
    flags = ["-O3", "-fno-trapping-math", *vector]
    # one build directory per source and flags: checkouts of different versions never rebuild each other's
    name = "rnnlab_fused_steps_" + hashlib.sha256(source.read_bytes() + " ".join(flags).encode()).hexdigest()[:12]
    try:
        build = Path(os.environ.get("TORCH_EXTENSIONS_DIR") or cpp_extension.get_default_build_root()) / name
        build.mkdir(parents=True, exist_ok=True)
        _clear_stale_lock(build / "lock")
        if not (build / f"{name}.so").exists():  # once per machine: `make install` builds it
            print("rnnlab.fused: compiling the C++ step loops (~20 s once per machine)", file=sys.stderr)
        cpp_extension.load(name=name, sources=[str(source)], extra_cflags=flags, build_directory=str(build),
                           is_python_module=False, verbose=False)
        return torch.ops.rnnlab_fused
    except Exception as e:  # noqa: BLE001 - no compiler, no ninja: the TorchScript loops are equal, only slower
        warnings.warn(f"rnnlab.fused: C++ step loops unavailable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                      "using TorchScript", stacklevel=2)
        return None


def _clear_stale_lock(lock: Path, max_age: float = 300) -> None:
    """torch's build lock outlives a build killed midway, and every later build would wait on it
    forever; a build takes ~20 s, so a lock five minutes old is a dead one."""
    try:
        if time.time() - lock.stat().st_mtime > max_age:
            lock.unlink(missing_ok=True)
            print(f"rnnlab.fused: removed {lock}, left by a build that was killed", file=sys.stderr)
    except FileNotFoundError:
        pass


def _loops(name: str):
    steps = compiled_steps()
    return getattr(steps, name) if steps is not None else globals()[f"_{name}_loop"]


class _RNNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        T, B, _ = x.shape
        H = h0.shape[1]
        pre = _linear(x.reshape(T * B, -1), w_ih, b_ih + b_hh).view(T, B, H)
        hs = x.new_empty(T + 1, B, H)
        hs[0] = h0
        _loops("rnn_forward")(pre, hs, w_hh)
        ctx.save_for_backward(x, w_ih, w_hh, hs)
        return hs[1:].clone(), hs[T].clone()  # own storage: callers may modify them in place

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hn):
        x, w_ih, w_hh, hs = ctx.saved_tensors
        T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dpre = x.new_empty(T, B, H)
        dnext = d_hn.contiguous() if d_hn is not None else torch.zeros_like(hs[0])
        d_out = d_out.contiguous() if d_out is not None else None
        dh0 = _loops("rnn_backward")(d_out, dnext, hs, w_hh, dpre)
        dp = dpre.view(T * B, H)
        dx = _linear(dp, w_ih.t()).view_as(x)
        dw_ih = _weight_grad(dp, x.reshape(T * B, -1))
        dw_hh = _weight_grad(dp, hs[:-1].reshape(T * B, H))
        db = dp.sum(0)
        return dx, dh0, dw_ih, dw_hh, db, db


def rnn_layer(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> tuple[Tensor, Tensor]:
    """One tanh-RNN direction: x [T, B, I], h0 [B, H] -> (outputs [T, B, H], h_T [B, H])."""
    return _RNNFunction.apply(x.contiguous(), h0.contiguous(), w_ih, w_hh, b_ih, b_hh)


# ---------------------------------------------------------------- drop-in modules

class _Fused:
    """Stacks and directions around a one-direction layer function, as nn.GRU / nn.RNN arrange them."""

    _layer = None

    def _supported(self, input) -> bool:
        return (not isinstance(input, PackedSequence) and self.bias and self.proj_size == 0
                and input.dtype in (torch.float32, torch.float64) and input.device.type == "cpu"
                and getattr(self, "nonlinearity", "tanh") == "tanh")

    def forward(self, input, hx=None):
        if not self._supported(input):
            return super().forward(input, hx)
        batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        x = input if batched else input.unsqueeze(batch_dim)  # unbatched input is [steps, features]
        x = x.transpose(0, 1) if self.batch_first else x  # time-major inside
        dirs = 2 if self.bidirectional else 1
        if hx is None:
            hx = x.new_zeros(self.num_layers * dirs, x.shape[1], self.hidden_size)
        elif not batched:
            hx = hx.unsqueeze(1)
        finals = []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = nn.functional.dropout(x, self.dropout, training=True)
            outs = []
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                w = [getattr(self, f"{name}{sfx}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                out, h = type(self)._layer(x.flip(0) if d else x, hx[layer * dirs + d], *w)
                outs.append(out.flip(0) if d else out)
                finals.append(h)
            x = outs[0] if dirs == 1 else torch.cat(outs, dim=2)
        out, h_n = x.transpose(0, 1) if self.batch_first else x, torch.stack(finals)
        if not batched:
            out, h_n = out.squeeze(batch_dim), h_n.squeeze(1)
        return out, h_n


class GRU(_Fused, nn.GRU):
    """nn.GRU with the fused CPU forward and backward (same parameters, outputs and gradients)."""

    _layer = staticmethod(gru_layer)


class RNN(_Fused, nn.RNN):
    """nn.RNN (tanh) with the fused CPU forward and backward (same parameters, outputs and gradients)."""

    _layer = staticmethod(rnn_layer)

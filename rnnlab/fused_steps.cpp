// The per-step loops of rnnlab/fused.py's GRU and Elman RNN, as one C++ function each.
//
// Why C++: at batch 64, hidden 128 a step's matmul takes ~30 us, while the ten element-wise
// ops around it cost ~10-20 us each in dispatch and memory passes, TorchScript or not. Here each
// step is one matmul (at::mm_out) plus a single pass over the batch that computes
// every gate at once (biases included). exp is a Cephes-style polynomial the compiler vectorises (float32, ~2 ulp);
// float64 uses std::exp / std::tanh so tests can compare with nn.GRU / nn.RNN at 1e-12.
//
// Built on first use by torch.utils.cpp_extension (rnnlab/fused_build.py); fused.py falls back to
// its TorchScript loops when no compiler is at hand.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  // exp(88) is near FLT_MAX
  float v = x * 1.44269504088896341f + 0.5f;
  int32_t k = static_cast<int32_t>(v);  // floor(v) by truncation: std::floor stops vectorisation
  k -= static_cast<float>(k) > v;
  float n = static_cast<float>(k);
  x = x - n * 0.693359375f + n * 2.12194440e-4f;  // x - n ln2, in two parts for precision
  float y = 1.9875691500e-4f;
  y = y * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * x * x + x + 1.0f;
  int32_t bits = (k + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

inline float tanh_(float x) {
  float e = exp_approx(-2.0f * std::fabs(x));
  return std::copysign((1.0f - e) / (1.0f + e), x);
}
inline double tanh_(double x) { return std::tanh(x); }

// ---------------------------------------------------------------- GRU
// r = sig(gi_r + gh_r), z = sig(gi_z + gh_z), n = tanh(gi_n + r * gh_n), h' = n + z (h - n)

template <typename T>
void gru_gates(int64_t B, int64_t H, const T* gi, const T* gh, const T* b_hh, const T* h, T* rz, T* n, T* ghn,
               T* h_next) {
  const T *b_r = b_hh, *b_z = b_hh + H, *b_n = b_hh + 2 * H;
  for (int64_t b = 0; b < B; ++b) {
    // one pointer per gate block, so that the compiler sees unit-stride rows it can vectorise
    const T *gi_r = gi + b * 3 * H, *gi_z = gi_r + H, *gi_n = gi_z + H;
    const T *gh_r = gh + b * 3 * H, *gh_z = gh_r + H, *gh_n = gh_z + H;
    const T* h_b = h + b * H;
    T *r_b = rz + b * 2 * H, *z_b = r_b + H;
    T *n_b = n + b * H, *ghn_b = ghn + b * H, *out_b = h_next + b * H;
#pragma GCC ivdep
    for (int64_t j = 0; j < H; ++j) {
      T r = sigmoid(gi_r[j] + gh_r[j] + b_r[j]);
      T z = sigmoid(gi_z[j] + gh_z[j] + b_z[j]);
      T hn = gh_n[j] + b_n[j];
      T nn = tanh_(gi_n[j] + r * hn);
      r_b[j] = r;
      z_b[j] = z;
      ghn_b[j] = hn;
      n_b[j] = nn;
      out_b[j] = nn + z * (h_b[j] - nn);
    }
  }
}

// gi [T, B, 3H] (input side with b_ih), hs [T+1, B, H] with hs[0] = h0; fills hs[1:], rz, n, ghn.
void gru_forward(const at::Tensor& gi, const at::Tensor& hs, const at::Tensor& w_hh, const at::Tensor& b_hh,
                 const at::Tensor& rz, const at::Tensor& n, const at::Tensor& ghn) {
  const int64_t steps = gi.size(0), B = gi.size(1), H = hs.size(2);
  at::Tensor gh = at::empty({B, 3 * H}, gi.options());
  at::Tensor w_t = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(gi.scalar_type(), "gru_forward", [&] {
    for (int64_t t = 0; t < steps; ++t) {
      at::mm_out(gh, hs[t], w_t);  // addmm_out is up to 2x slower than mm_out at these shapes
      gru_gates<scalar_t>(B, H, gi[t].const_data_ptr<scalar_t>(), gh.const_data_ptr<scalar_t>(),
                          b_hh.const_data_ptr<scalar_t>(), hs[t].const_data_ptr<scalar_t>(), rz[t].data_ptr<scalar_t>(), n[t].data_ptr<scalar_t>(),
                          ghn[t].data_ptr<scalar_t>(), hs[t + 1].data_ptr<scalar_t>());
    }
  });
}

template <typename T>
void gru_gate_grads(int64_t B, int64_t H, const T* d_out, const T* dnext, const T* h, const T* rz, const T* n,
                    const T* ghn, T* dgi, T* dgh, T* dh_z) {
  // on entry dh_z holds the previous (later) step's dh * z, the part of dh_prev outside the matmul
  for (int64_t b = 0; b < B; ++b) {
    const T *r_b = rz + b * 2 * H, *z_b = r_b + H, *n_b = n + b * H, *ghn_b = ghn + b * H, *h_b = h + b * H;
    const T* dnext_b = dnext + b * H;
    T *dgi_r = dgi + b * 3 * H, *dgi_z = dgi_r + H, *dgi_n = dgi_z + H;
    T *dgh_r = dgh + b * 3 * H, *dgh_z = dgh_r + H, *dgh_n = dgh_z + H;
    T* dh_z_b = dh_z + b * H;
    if (d_out != nullptr) {  // dh = upstream gradient at this step + the one flowing back from t + 1
      const T* d_out_b = d_out + b * H;
#pragma GCC ivdep
      for (int64_t j = 0; j < H; ++j) dh_z_b[j] += dnext_b[j] + d_out_b[j];
    } else {
#pragma GCC ivdep
      for (int64_t j = 0; j < H; ++j) dh_z_b[j] += dnext_b[j];
    }
#pragma GCC ivdep
    for (int64_t j = 0; j < H; ++j) {
      T dh = dh_z_b[j], r = r_b[j], z = z_b[j], nn = n_b[j];
      T dn = dh * (1 - z) * (1 - nn * nn);
      T dz = dh * (h_b[j] - nn) * z * (1 - z);
      T dr = dn * ghn_b[j] * r * (1 - r);
      dgi_r[j] = dr;
      dgi_z[j] = dz;
      dgi_n[j] = dn;
      dgh_r[j] = dr;
      dgh_z[j] = dz;
      dgh_n[j] = dn * r;  // the hidden part of n sits inside r * (W_hn h + b_hn)
      dh_z_b[j] = dh * z;
    }
  }
}

// Fills dgi, dgh [T, B, 3H] (gradients of the input- and hidden-side pre-activations); returns dh0.
at::Tensor gru_backward(const c10::optional<at::Tensor>& d_out, const at::Tensor& d_hn, const at::Tensor& hs,
                        const at::Tensor& rz, const at::Tensor& n, const at::Tensor& ghn, const at::Tensor& w_hh,
                        const at::Tensor& dgi, const at::Tensor& dgh) {
  const int64_t steps = n.size(0), B = n.size(1), H = n.size(2);
  at::Tensor dnext = at::zeros_like(d_hn), dh_z = d_hn.clone();  // dh = dnext + dh_z (+ d_out)
  const bool has_out = d_out.has_value() && d_out->defined();
  AT_DISPATCH_FLOATING_TYPES(n.scalar_type(), "gru_backward", [&] {
    for (int64_t t = steps - 1; t >= 0; --t) {
      gru_gate_grads<scalar_t>(B, H, has_out ? (*d_out)[t].const_data_ptr<scalar_t>() : nullptr,
                               dnext.const_data_ptr<scalar_t>(), hs[t].const_data_ptr<scalar_t>(),
                               rz[t].const_data_ptr<scalar_t>(), n[t].const_data_ptr<scalar_t>(),
                               ghn[t].const_data_ptr<scalar_t>(), dgi[t].data_ptr<scalar_t>(),
                               dgh[t].data_ptr<scalar_t>(), dh_z.data_ptr<scalar_t>());
      at::mm_out(dnext, dgh[t], w_hh);  // dh_prev = dgh @ W_hh + dh * z: the sum waits for the next step
    }
  });
  return dnext.add_(dh_z);
}

// ---------------------------------------------------------------- Elman RNN (tanh)

template <typename T>
void tanh_add_inplace(int64_t size, T* x, const T* pre) {
#pragma GCC ivdep
  for (int64_t i = 0; i < size; ++i) x[i] = tanh_(x[i] + pre[i]);
}

// pre [T, B, H] (input side with both biases), hs [T+1, B, H] with hs[0] = h0; fills hs[1:].
void rnn_forward(const at::Tensor& pre, const at::Tensor& hs, const at::Tensor& w_hh) {
  const int64_t steps = pre.size(0);
  at::Tensor w_t = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(pre.scalar_type(), "rnn_forward", [&] {
    for (int64_t t = 0; t < steps; ++t) {
      at::Tensor h = hs[t + 1];
      at::mm_out(h, hs[t], w_t);
      tanh_add_inplace<scalar_t>(h.numel(), h.data_ptr<scalar_t>(), pre[t].const_data_ptr<scalar_t>());
    }
  });
}

template <typename T>
void rnn_pre_grads(int64_t size, const T* d_out, const T* dnext, const T* h, T* dpre) {
#pragma GCC ivdep
  for (int64_t i = 0; i < size; ++i) {
    T dh = dnext[i] + (d_out ? d_out[i] : T(0));
    dpre[i] = dh * (1 - h[i] * h[i]);
  }
}

// Fills dpre [T, B, H]; returns dh0.
at::Tensor rnn_backward(const c10::optional<at::Tensor>& d_out, const at::Tensor& d_hn, const at::Tensor& hs,
                        const at::Tensor& w_hh, const at::Tensor& dpre) {
  const int64_t steps = dpre.size(0);
  at::Tensor dnext = d_hn.clone();
  const bool has_out = d_out.has_value() && d_out->defined();
  AT_DISPATCH_FLOATING_TYPES(dpre.scalar_type(), "rnn_backward", [&] {
    for (int64_t t = steps - 1; t >= 0; --t) {
      rnn_pre_grads<scalar_t>(dnext.numel(), has_out ? (*d_out)[t].const_data_ptr<scalar_t>() : nullptr,
                              dnext.const_data_ptr<scalar_t>(), hs[t + 1].const_data_ptr<scalar_t>(),
                              dpre[t].data_ptr<scalar_t>());
      at::mm_out(dnext, dpre[t], w_hh);
    }
  });
  return dnext;
}

}  // namespace

TORCH_LIBRARY(rnnlab_fused, m) {
  m.def("gru_forward(Tensor gi, Tensor(a!) hs, Tensor w_hh, Tensor b_hh, Tensor(b!) rz, Tensor(c!) n, Tensor(d!) ghn) -> ()");
  m.def("gru_backward(Tensor? d_out, Tensor d_hn, Tensor hs, Tensor rz, Tensor n, Tensor ghn, Tensor w_hh, "
        "Tensor(a!) dgi, Tensor(b!) dgh) -> Tensor");
  m.def("rnn_forward(Tensor pre, Tensor(a!) hs, Tensor w_hh) -> ()");
  m.def("rnn_backward(Tensor? d_out, Tensor d_hn, Tensor hs, Tensor w_hh, Tensor(a!) dpre) -> Tensor");
}

TORCH_LIBRARY_IMPL(rnnlab_fused, CPU, m) {
  m.impl("gru_forward", &gru_forward);
  m.impl("gru_backward", &gru_backward);
  m.impl("rnn_forward", &rnn_forward);
  m.impl("rnn_backward", &rnn_backward);
}

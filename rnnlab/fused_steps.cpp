// The per-step loops of rnnlab/fused.py's GRU and Elman RNN, as one C++ function each.
//
// Why C++: at batch 64, hidden 128 a step's matmul takes ~20-40 us, while the ten element-wise
// ops around it cost ~10-20 us each in dispatch and memory passes, TorchScript or not. Here each
// step is one BLAS call plus a single pass over the batch that computes every gate at once
// (biases included). exp is a Cephes-style polynomial the compiler vectorises (float32, ~1e-7
// relative; -fno-trapping-math lets it if-convert the clamp); float64 uses std::exp / std::tanh,
// so tests can compare with nn.GRU / nn.RNN at 1e-12.
//
// Built on first use by torch.utils.cpp_extension (rnnlab.fused.compiled_steps); fused.py falls
// back to its TorchScript loops when no compiler is at hand.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>
#include <cstdint>
#include <cstring>

// The BLAS that torch.mm itself calls (MKL in the x86 wheels), by its Fortran name: calling it with
// raw pointers skips the dispatcher and the per-step tensor views (~10 us a step at batch 64).
extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc);
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
            const int* ldc);
}

namespace {

// Column-major BLAS on row-major arrays: C = A B is computed as C^T = B^T A^T.
inline void gemm(char ta, char tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float* c,
                 int ldc) {
  const float one = 1, zero = 0;
  sgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &zero, c, &ldc);
}
inline void gemm(char ta, char tb, int m, int n, int k, const double* a, int lda, const double* b, int ldb, double* c,
                 int ldc) {
  const double one = 1, zero = 0;
  dgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &zero, c, &ldc);
}

// out [M, N] = a [M, K] @ w [N, K]^T, all row-major and contiguous
template <typename T>
void matmul_wt(int64_t M, int64_t N, int64_t K, const T* a, const T* w, T* out) {
  gemm('T', 'N', N, M, K, w, K, a, K, out, N);
}

// out [M, N] = a [M, K] @ w [K, N], all row-major and contiguous
template <typename T>
void matmul_w(int64_t M, int64_t N, int64_t K, const T* a, const T* w, T* out) {
  gemm('N', 'N', N, M, K, w, N, a, K, out, N);
}

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
  at::Tensor gh = at::empty({B, 3 * H}, gi.options()), w = w_hh.contiguous(), bias = b_hh.contiguous();
  AT_DISPATCH_FLOATING_TYPES(gi.scalar_type(), "gru_forward", [&] {
    const scalar_t *gi_p = gi.const_data_ptr<scalar_t>(), *w_p = w.const_data_ptr<scalar_t>();
    scalar_t *hs_p = hs.data_ptr<scalar_t>(), *gh_p = gh.data_ptr<scalar_t>(), *rz_p = rz.data_ptr<scalar_t>();
    scalar_t *n_p = n.data_ptr<scalar_t>(), *ghn_p = ghn.data_ptr<scalar_t>();
    for (int64_t t = 0; t < steps; ++t) {
      const scalar_t* h = hs_p + t * B * H;
      matmul_wt<scalar_t>(B, 3 * H, H, h, w_p, gh_p);
      gru_gates<scalar_t>(B, H, gi_p + t * B * 3 * H, gh_p, bias.const_data_ptr<scalar_t>(), h, rz_p + t * B * 2 * H,
                          n_p + t * B * H, ghn_p + t * B * H, hs_p + (t + 1) * B * H);
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
  at::Tensor dnext = at::zeros_like(d_hn), dh_z = d_hn.contiguous().clone(), w = w_hh.contiguous();
  const bool has_out = d_out.has_value() && d_out->defined();
  AT_DISPATCH_FLOATING_TYPES(n.scalar_type(), "gru_backward", [&] {
    const scalar_t* d_out_p = has_out ? d_out->const_data_ptr<scalar_t>() : nullptr;
    const scalar_t *hs_p = hs.const_data_ptr<scalar_t>(), *rz_p = rz.const_data_ptr<scalar_t>();
    const scalar_t *n_p = n.const_data_ptr<scalar_t>(), *ghn_p = ghn.const_data_ptr<scalar_t>();
    const scalar_t* w_p = w.const_data_ptr<scalar_t>();
    scalar_t *dgi_p = dgi.data_ptr<scalar_t>(), *dgh_p = dgh.data_ptr<scalar_t>();
    scalar_t *dnext_p = dnext.data_ptr<scalar_t>(), *dh_z_p = dh_z.data_ptr<scalar_t>();
    for (int64_t t = steps - 1; t >= 0; --t) {
      gru_gate_grads<scalar_t>(B, H, has_out ? d_out_p + t * B * H : nullptr, dnext_p, hs_p + t * B * H,
                               rz_p + t * B * 2 * H, n_p + t * B * H, ghn_p + t * B * H, dgi_p + t * B * 3 * H,
                               dgh_p + t * B * 3 * H, dh_z_p);
      // dh_prev = dgh @ W_hh + dh * z: the sum waits for the next step's pass
      matmul_w<scalar_t>(B, H, 3 * H, dgh_p + t * B * 3 * H, w_p, dnext_p);
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
  const int64_t steps = pre.size(0), B = pre.size(1), H = pre.size(2);
  at::Tensor w = w_hh.contiguous();
  AT_DISPATCH_FLOATING_TYPES(pre.scalar_type(), "rnn_forward", [&] {
    const scalar_t *pre_p = pre.const_data_ptr<scalar_t>(), *w_p = w.const_data_ptr<scalar_t>();
    scalar_t* hs_p = hs.data_ptr<scalar_t>();
    for (int64_t t = 0; t < steps; ++t) {
      scalar_t* h_next = hs_p + (t + 1) * B * H;
      matmul_wt<scalar_t>(B, H, H, hs_p + t * B * H, w_p, h_next);
      tanh_add_inplace<scalar_t>(B * H, h_next, pre_p + t * B * H);
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
  const int64_t steps = dpre.size(0), B = dpre.size(1), H = dpre.size(2);
  at::Tensor dnext = d_hn.contiguous().clone(), w = w_hh.contiguous();
  const bool has_out = d_out.has_value() && d_out->defined();
  AT_DISPATCH_FLOATING_TYPES(dpre.scalar_type(), "rnn_backward", [&] {
    const scalar_t* d_out_p = has_out ? d_out->const_data_ptr<scalar_t>() : nullptr;
    const scalar_t *hs_p = hs.const_data_ptr<scalar_t>(), *w_p = w.const_data_ptr<scalar_t>();
    scalar_t *dpre_p = dpre.data_ptr<scalar_t>(), *dnext_p = dnext.data_ptr<scalar_t>();
    for (int64_t t = steps - 1; t >= 0; --t) {
      rnn_pre_grads<scalar_t>(B * H, has_out ? d_out_p + t * B * H : nullptr, dnext_p, hs_p + (t + 1) * B * H,
                              dpre_p + t * B * H);
      matmul_w<scalar_t>(B, H, H, dpre_p + t * B * H, w_p, dnext_p);
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

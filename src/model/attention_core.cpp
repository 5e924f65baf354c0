#include "attention_core.hpp"

#include <cblas.h>

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

namespace patchbay::detail {
namespace {

// (batch, head) pairs per parallel task: enough to amortise scheduling, small enough to balance.
constexpr std::int64_t kPairsPerTask = 4;

// Whether the BLAS kernels can serve: CPU float32, the head dimension contiguous, and no
// autograd graph to record (the kernels write through raw pointers).
bool use_blas(std::initializer_list<const at::Tensor*> tensors) {
  for (const auto* t : tensors)
    if (!t->device().is_cpu() || t->scalar_type() != at::kFloat || t->stride(-1) != 1 || t->requires_grad()) return false;
  return true;
}

// Calls f(b, h, i) for every (batch, head) pair, i = b * H + h, in parallel over the pairs.
template <typename F>
void for_each_head(std::int64_t batch, std::int64_t H, const F& f) {
  at::parallel_for(0, batch * H, kPairsPerTask, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) f(i / H, i % H, i);
  });
}

// [batch, n, heads, D] -> [batch * H, n, D], repeating kv heads for grouped-query attention.
at::Tensor heads_as_batch(const at::Tensor& x, std::int64_t H) {
  auto t = x.permute({0, 2, 1, 3});  // [batch, heads, n, D]
  if (t.size(1) != H) t = t.repeat_interleave(H / t.size(1), 1);
  return t.reshape({x.size(0) * H, x.size(1), x.size(3)});
}

}  // namespace

at::Tensor attention_scores(const at::Tensor& q, const at::Tensor& k) {
  const auto batch = q.size(0), n_q = q.size(1), H = q.size(2), D = q.size(3);
  const auto n_k = k.size(1), group = H / k.size(2);
  const auto first_query = n_k - n_q;  // absolute position of query 0
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  if (!use_blas({&q, &k})) {
    auto index_options = at::TensorOptions().dtype(at::kLong).device(q.device());
    auto query_pos = at::arange(first_query, n_k, index_options).unsqueeze(1);  // [q, 1]
    auto key_pos = at::arange(n_k, index_options).unsqueeze(0);                 // [1, k]
    auto mask = at::zeros({1, n_q, n_k}, q.options()).masked_fill_((key_pos > query_pos).unsqueeze(0),
                                                                   -std::numeric_limits<float>::infinity());
    // The GEMM applies the scale and adds the mask in the same pass.
    auto scores = at::baddbmm(mask, heads_as_batch(q, H), heads_as_batch(k, H).transpose(1, 2), 1, scale);
    return scores.view({batch, H, n_q, n_k});
  }
  auto scores = at::empty({batch, H, n_q, n_k}, q.options());
  float* out = scores.data_ptr<float>();
  const float* q_data = q.data_ptr<float>();
  const float* k_data = k.data_ptr<float>();
  for_each_head(batch, H, [&](std::int64_t b, std::int64_t h, std::int64_t i) {
    float* s = out + i * n_q * n_k;  // [n_q, n_k]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n_q), static_cast<int>(n_k), static_cast<int>(D),
                static_cast<float>(scale), q_data + b * q.stride(0) + h * q.stride(2), static_cast<int>(q.stride(1)),
                k_data + b * k.stride(0) + (h / group) * k.stride(2), static_cast<int>(k.stride(1)), 0.0f, s, static_cast<int>(n_k));
    for (std::int64_t r = 0; r < n_q; ++r)
      for (std::int64_t c = first_query + r + 1; c < n_k; ++c) s[r * n_k + c] = -std::numeric_limits<float>::infinity();
  });
  return scores;
}

at::Tensor attention_values(const at::Tensor& pattern_in, const at::Tensor& v) {
  const auto batch = pattern_in.size(0), H = pattern_in.size(1), n_q = pattern_in.size(2), n_k = pattern_in.size(3);
  const auto D = v.size(3), group = H / v.size(2);
  if (!use_blas({&pattern_in, &v})) {
    auto z = at::bmm(pattern_in.reshape({batch * H, n_q, n_k}), heads_as_batch(v, H));  // [batch * H, n_q, D]
    return z.view({batch, H, n_q, D}).permute({0, 2, 1, 3});
  }
  const auto pattern = pattern_in.contiguous();
  auto z = at::empty({batch, n_q, H, D}, v.options());
  float* out = z.data_ptr<float>();
  const float* p_data = pattern.data_ptr<float>();
  const float* v_data = v.data_ptr<float>();
  for_each_head(batch, H, [&](std::int64_t b, std::int64_t h, std::int64_t i) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n_q), static_cast<int>(D), static_cast<int>(n_k), 1.0f,
                p_data + i * n_q * n_k, static_cast<int>(n_k), v_data + b * v.stride(0) + (h / group) * v.stride(2),
                static_cast<int>(v.stride(1)), 0.0f, out + b * z.stride(0) + h * z.stride(2), static_cast<int>(z.stride(1)));
  });
  return z;
}

}  // namespace patchbay::detail

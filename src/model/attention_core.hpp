#pragma once
// The two products inside attention, for every (batch, head): scores = q kᵀ / sqrt(d_head)
// with the causal mask, and z = pattern v (internal to src/model).
//
// On the CPU without autograd they run as one small BLAS GEMM per (batch, head), in parallel
// over the pairs, reading q, k and v in place through their strides (no permuted copies) and
// writing z straight into [batch, q, head, d_head]. libtorch's batched products dispatch every
// 64x64 matrix separately and cost twice as much at GPT-2 Small's shape (measured in
// bench/RESULTS.md). Elsewhere (CUDA, autograd) they are ATen's batched products.
#include <ATen/core/Tensor.h>

namespace patchbay::detail {

// q: [batch, n_q, H, D]; k: [batch, n_k, KV, D] with H a multiple of KV (query head h reads
// kv head h / (H / KV)). Query i sits at absolute position n_k - n_q + i and sees keys at
// positions <= its own. Returns [batch, H, n_q, n_k], -inf where masked.
at::Tensor attention_scores(const at::Tensor& q, const at::Tensor& k);

// pattern: [batch, H, n_q, n_k]; v: [batch, n_k, KV, D]. Returns z: [batch, n_q, H, D].
at::Tensor attention_values(const at::Tensor& pattern, const at::Tensor& v);

}  // namespace patchbay::detail

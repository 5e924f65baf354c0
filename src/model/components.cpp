#include "components.hpp"

#include "attention_core.hpp"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

namespace patchbay::detail {

at::Tensor linear(const at::Tensor& x, const at::Tensor& W, const at::Tensor& b) {
  auto sizes = x.sizes().vec();
  auto flat = x.reshape({-1, sizes.back()});  // [rows, in]
  auto out = b.defined() ? at::addmm(b, flat, W) : at::mm(flat, W);
  sizes.back() = W.size(1);
  return out.view(sizes);
}

at::Tensor plain_norm(const at::Tensor& x, const NormWeights& w, const ModelConfig& config) {
  if (config.norm == NormKind::LayerNorm) return at::layer_norm(x, {x.size(-1)}, w.w, w.b, config.norm_eps);
  return x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + config.norm_eps) * w.w;
}

at::Tensor norm(const at::Tensor& x, const NormWeights& w, const ModelConfig& config, const Hooks& hooks,
                Site scale_site, Site normalized_site, int layer) {
  // Unobserved: the fused kernels (the same arithmetic in fewer passes over memory).
  if (!hooks.active(scale_site, layer) && !hooks.active(normalized_site, layer)) return plain_norm(x, w, config);
  // TransformerLens semantics: scale = sqrt(mean(centred^2) + eps) with centring only for
  // LayerNorm; hook_normalized includes the weight (and bias).
  at::Tensor centred = config.norm == NormKind::LayerNorm ? x - x.mean(-1, /*keepdim=*/true) : x;
  at::Tensor scale = (centred.pow(2).mean(-1, /*keepdim=*/true) + config.norm_eps).sqrt();  // [batch, pos, 1]
  scale = hooks.fire(scale_site, layer, scale);
  at::Tensor out = centred / scale * w.w;
  if (w.b.defined()) out = out + w.b;
  return hooks.fire(normalized_site, layer, out);
}

std::pair<at::Tensor, at::Tensor> rotary_tables(const ModelConfig& config, const at::TensorOptions& options) {
  const auto half = config.d_head / 2;
  // Computed in float64 then rounded, so long contexts keep their angle precision.
  auto pair_index = at::arange(half, at::TensorOptions().dtype(at::kDouble));
  auto inv_freq = at::pow(config.rope_theta, -2.0 * pair_index / static_cast<double>(config.d_head));
  auto positions = at::arange(config.n_ctx, at::TensorOptions().dtype(at::kDouble));
  auto angles = at::outer(positions, inv_freq);  // [n_ctx, half]
  return {at::cos(angles).to(options), at::sin(angles).to(options)};
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  auto shape = x.sizes().vec();
  auto pairs = x.reshape({shape[0], shape[1], shape[2], shape[3] / 2, 2});  // [batch, pos, heads, half, 2]
  auto even = pairs.select(-1, 0);
  auto odd = pairs.select(-1, 1);
  auto c = cos.view({1, cos.size(0), 1, cos.size(1)});  // [1, pos, 1, half]
  auto s = sin.view({1, sin.size(0), 1, sin.size(1)});
  auto rotated = at::stack({even * c - odd * s, even * s + odd * c}, -1);
  return rotated.view(shape);
}

at::Tensor attention(const at::Tensor& x_norm, const LayerWeights& w, const ModelConfig& config, const Hooks& hooks,
                     int layer, const at::Tensor& rope_cos, const at::Tensor& rope_sin, const AttentionContext& ctx) {
  const auto batch = x_norm.size(0), pos = x_norm.size(1);
  const auto H = config.n_heads, KV = config.n_kv_heads, D = config.d_head;

  // One GEMM for q, k and v; the hooks see views of its output. With last_query_only, only the
  // last position's query is needed (no hooks sit at such a layer).
  at::Tensor q, k, v;
  auto split = [&](const at::Tensor& t, std::int64_t from, std::int64_t heads) {
    return t.narrow(-1, from * D, heads * D).view({batch, t.size(1), heads, D});
  };
  if (ctx.last_query_only) {
    auto bias = [&](std::int64_t from, std::int64_t n) { return w.b_qkv.defined() ? w.b_qkv.narrow(0, from, n) : at::Tensor(); };
    q = split(linear(x_norm.narrow(1, pos - 1, 1), w.W_qkv.narrow(1, 0, H * D), bias(0, H * D)), 0, H);
    auto kv = linear(x_norm, w.W_qkv.narrow(1, H * D, 2 * KV * D), bias(H * D, 2 * KV * D));
    k = split(kv, 0, KV);
    v = split(kv, KV, KV);
  } else {
    auto qkv = linear(x_norm, w.W_qkv, w.b_qkv);  // [batch, pos, (H + 2 KV) * D]
    q = hooks.fire(Site::Q, layer, split(qkv, 0, H));
    k = hooks.fire(Site::K, layer, split(qkv, H, KV));
    v = hooks.fire(Site::V, layer, split(qkv, H + KV, KV));
  }

  if (config.positions == PositionKind::Rotary) {
    auto cos = rope_cos.narrow(0, ctx.offset, pos), sin = rope_sin.narrow(0, ctx.offset, pos);
    q = hooks.fire(Site::RotQ, layer, apply_rotary(q, ctx.last_query_only ? cos.narrow(0, pos - 1, 1) : cos,
                                                   ctx.last_query_only ? sin.narrow(0, pos - 1, 1) : sin));
    k = hooks.fire(Site::RotK, layer, apply_rotary(k, cos, sin));
  }
  if (ctx.past_keys.defined()) {  // keys and values of the earlier positions, computed before
    k = at::cat({ctx.past_keys, k}, 1);
    v = at::cat({ctx.past_values, v}, 1);
  }
  const auto n_queries = q.size(1);

  // Grouped-query attention: query head h reads kv head h / (H / KV).
  auto scores = hooks.fire(Site::AttnScores, layer, attention_scores(q, k));  // [batch, H, q, k]
  auto pattern = hooks.fire(Site::Pattern, layer, at::softmax(scores, -1));   // [batch, H, q, k]
  auto z = hooks.fire(Site::Z, layer, attention_values(pattern, v));         // [batch, q, H, D]

  at::Tensor out;
  if (hooks.active(Site::Result, layer)) {
    // Per-head outputs are H times the memory of attn_out: computed only when asked for.
    auto W_O = w.W_O.view({H, D, config.d_model});
    auto result = at::einsum("bphd,hdm->bphm", {z, W_O});  // [batch, q, H, d_model]
    result = hooks.fire(Site::Result, layer, result);
    out = result.sum(2);
    if (w.b_O.defined()) out = out + w.b_O;
  } else {
    out = linear(z.reshape({batch, n_queries, H * D}), w.W_O, w.b_O);
  }
  return hooks.fire(Site::AttnOut, layer, out);
}

at::Tensor mlp(const at::Tensor& x_norm, const LayerWeights& w, const ModelConfig& config, const Hooks& hooks,
               int layer) {
  // The activation runs in place on the fresh pre-activation unless a hook observes it: the
  // same arithmetic, one allocation and one pass over [tokens, d_mlp] fewer (~3% of a pass).
  const bool pre_observed = hooks.active(Site::MlpPre, layer);
  at::Tensor post;
  if (config.mlp == MlpKind::SwiGLU) {
    auto gate = hooks.fire(Site::MlpPre, layer, linear(x_norm, w.W_gate, at::Tensor()));
    auto up = hooks.fire(Site::MlpPreLinear, layer, linear(x_norm, w.W_in, w.b_in));
    post = hooks.fire(Site::MlpPost, layer, (pre_observed ? at::silu(gate) : at::silu_(gate)) * up);
  } else {
    auto pre = hooks.fire(Site::MlpPre, layer, linear(x_norm, w.W_in, w.b_in));
    post = hooks.fire(Site::MlpPost, layer, pre_observed ? at::gelu(pre, "tanh") : at::gelu_(pre, "tanh"));
  }
  return hooks.fire(Site::MlpOut, layer, linear(post, w.W_out, w.b_out));
}

}  // namespace patchbay::detail

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
  // TransformerLens 3 semantics (components/layer_norm.py, rms_norm.py): hook_scale is the
  // divisor sqrt(mean(centred^2) + eps), centring only for LayerNorm; hook_normalized is the
  // centred input divided by it, before the weight and bias are applied.
  at::Tensor centred = config.norm == NormKind::LayerNorm ? x - x.mean(-1, /*keepdim=*/true) : x;
  at::Tensor scale = (centred.pow(2).mean(-1, /*keepdim=*/true) + config.norm_eps).sqrt();  // [batch, pos, 1]
  scale = hooks.fire(scale_site, layer, scale);
  at::Tensor normalized = hooks.fire(normalized_site, layer, centred / scale);  // [batch, pos, d_model]
  at::Tensor out = normalized * w.w;
  if (w.b.defined()) out = out + w.b;
  return out;
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

namespace {

// Fires the hook at (site, layer) on a fresh copy of x, so a hook that edits its argument in
// place cannot reach x's other readers; x itself when nothing is hooked there.
at::Tensor fire_copy(const Hooks& hooks, Site site, int layer, const at::Tensor& x) {
  return hooks.active(site, layer) ? hooks.fire(site, layer, x.clone()) : x;
}

// x [batch, pos, d_model] -> [batch, pos, heads, d_model], a view (no copy).
at::Tensor repeat_along_heads(const at::Tensor& x, std::int64_t heads) {
  return x.unsqueeze(2).expand({x.size(0), x.size(1), heads, x.size(2)});
}

// Columns [first_head * D, (first_head + heads) * D) of W_qkv (and b_qkv) as [d_model, heads, D]
// ([heads, D]), each weight head repeated `repeat` times (ungrouped keys and values).
std::pair<at::Tensor, at::Tensor> head_weights(const LayerWeights& w, const ModelConfig& config, std::int64_t first_head,
                                               std::int64_t heads, std::int64_t repeat) {
  const auto D = config.d_head;
  auto W = w.W_qkv.narrow(1, first_head * D, heads * D).view({config.d_model, heads, D});
  auto b = w.b_qkv.defined() ? w.b_qkv.narrow(0, first_head * D, heads * D).view({heads, D}) : at::Tensor();
  if (repeat > 1) {
    W = W.repeat_interleave(repeat, 1);
    if (b.defined()) b = b.repeat_interleave(repeat, 0);
  }
  return {W, b};
}

QueryKeyValue project_shared_input(const at::Tensor& resid_pre, const LayerWeights& w, const ModelConfig& config,
                                   const Hooks& hooks, int layer, const AttentionContext& ctx) {
  const auto batch = resid_pre.size(0), pos = resid_pre.size(1);
  const auto H = config.n_heads, KV = config.n_kv_heads, D = config.d_head;
  auto x_norm = norm(resid_pre, w.ln1, config, hooks, Site::Ln1Scale, Site::Ln1Normalized, layer);
  auto split = [&](const at::Tensor& t, std::int64_t from, std::int64_t heads) {
    return t.narrow(-1, from * D, heads * D).view({batch, t.size(1), heads, D});
  };
  QueryKeyValue out;
  if (ctx.last_query_only) {  // only the last position's query is needed (no hooks sit here)
    auto bias = [&](std::int64_t from, std::int64_t n) { return w.b_qkv.defined() ? w.b_qkv.narrow(0, from, n) : at::Tensor(); };
    out.q = split(linear(x_norm.narrow(1, pos - 1, 1), w.W_qkv.narrow(1, 0, H * D), bias(0, H * D)), 0, H);
    auto kv = linear(x_norm, w.W_qkv.narrow(1, H * D, 2 * KV * D), bias(H * D, 2 * KV * D));
    out.k = split(kv, 0, KV);
    out.v = split(kv, KV, KV);
  } else {
    auto qkv = linear(x_norm, w.W_qkv, w.b_qkv);  // [batch, pos, (H + 2 KV) * D]: one GEMM for all three
    out.q = split(qkv, 0, H);
    out.k = split(qkv, H, KV);
    out.v = split(qkv, H + KV, KV);
  }
  if (ctx.ungroup && KV != H) {  // the same keys and values, one copy per query head
    out.k = out.k.repeat_interleave(H / KV, 2);
    out.v = out.v.repeat_interleave(H / KV, 2);
  }
  return out;
}

// TransformerLens's use_attn_in / use_split_qkv_input: every head (every kv head for keys and
// values) reads its own copy of the residual stream and normalises it itself, so a hook can
// change the input of one head's query, key or value alone.
QueryKeyValue project_split_input(const at::Tensor& resid_pre, const LayerWeights& w, const ModelConfig& config,
                                  const Hooks& hooks, int layer, const AttentionContext& ctx) {
  const auto H = config.n_heads, KV = config.n_kv_heads;
  const auto kv_heads = ctx.ungroup ? H : KV;
  auto attn_in = fire_copy(hooks, Site::AttnIn, layer, repeat_along_heads(resid_pre, H));  // [batch, pos, H, d_model]
  auto q_input = fire_copy(hooks, Site::QInput, layer, attn_in);
  // Keys and values read the residual stream directly, as in TransformerLens; with hook_attn_in
  // hooked, kv head g reads the input of its first query head g * (H / kv_heads).
  auto kv_source = repeat_along_heads(resid_pre, kv_heads);  // [batch, pos, kv_heads, d_model]
  if (hooks.active(Site::AttnIn, layer))
    kv_source = kv_heads == H ? attn_in : attn_in.index_select(2, at::arange(0, H, H / kv_heads, attn_in.options().dtype(at::kLong)));
  auto k_input = fire_copy(hooks, Site::KInput, layer, kv_source);
  auto v_input = fire_copy(hooks, Site::VInput, layer, kv_source);
  if (ctx.last_query_only) q_input = q_input.narrow(1, q_input.size(1) - 1, 1);

  auto project = [&](const at::Tensor& input, std::int64_t first_head, std::int64_t weight_heads, std::int64_t heads) {
    auto [W, b] = head_weights(w, config, first_head, weight_heads, heads / weight_heads);
    auto out = at::einsum("bphm,mhd->bphd", {plain_norm(input, w.ln1, config), W});  // [batch, pos, heads, D]
    return b.defined() ? out + b : out;
  };
  return {project(q_input, 0, H, H), project(k_input, H, KV, kv_heads), project(v_input, H + KV, KV, kv_heads)};
}

}  // namespace

bool splits_attention_input(const Hooks& hooks, int layer) {
  for (Site s : {Site::AttnIn, Site::QInput, Site::KInput, Site::VInput})
    if (hooks.active(s, layer)) return true;
  return false;
}

at::Tensor attention(const at::Tensor& resid_pre, const LayerWeights& w, const ModelConfig& config, const Hooks& hooks,
                     int layer, const at::Tensor& rope_cos, const at::Tensor& rope_sin, const AttentionContext& ctx) {
  const auto batch = resid_pre.size(0), pos = resid_pre.size(1);
  const auto H = config.n_heads, D = config.d_head;

  auto qkv = splits_attention_input(hooks, layer) ? project_split_input(resid_pre, w, config, hooks, layer, ctx)
                                                   : project_shared_input(resid_pre, w, config, hooks, layer, ctx);
  at::Tensor q = qkv.q, k = qkv.k, v = qkv.v;  // [batch, pos (1 for last_query_only), heads, D]
  if (!ctx.last_query_only) {
    q = hooks.fire(Site::Q, layer, q);
    k = hooks.fire(Site::K, layer, k);
    v = hooks.fire(Site::V, layer, v);
  }

  if (config.positions == PositionKind::Rotary) {
    auto cos = rope_cos.narrow(0, ctx.offset, pos), sin = rope_sin.narrow(0, ctx.offset, pos);
    q = hooks.fire(Site::RotQ, layer, apply_rotary(q, ctx.last_query_only ? cos.narrow(0, pos - 1, 1) : cos,
                                                   ctx.last_query_only ? sin.narrow(0, pos - 1, 1) : sin));
    k = hooks.fire(Site::RotK, layer, apply_rotary(k, cos, sin));
  }
  if (ctx.past_keys.defined()) {  // keys and values of the earlier positions, computed before
    auto ungrouped = [&](const at::Tensor& past) {
      return past.size(2) == k.size(2) ? past : past.repeat_interleave(k.size(2) / past.size(2), 2);
    };
    k = at::cat({ungrouped(ctx.past_keys), k}, 1);
    v = at::cat({ungrouped(ctx.past_values), v}, 1);
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

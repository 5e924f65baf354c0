#pragma once
// Per-architecture pieces of the forward pass (internal to src/model). Each takes the hook
// registry so it can fire its TransformerLens hook points; `Hooks::fire` is a no-op
// (one array lookup) when nothing is registered at that point.
#include <ATen/core/Tensor.h>

#include "patchbay/model/config.hpp"
#include "patchbay/model/hook_registry.hpp"
#include "patchbay/model/weights.hpp"

namespace patchbay::detail {

struct Hooks {
  const HookRegistry& registry;
  // Fires the hook at (site, layer) on x and returns the (possibly replaced) activation.
  at::Tensor fire(Site site, int layer, at::Tensor x) const {
    HookId id{site, layer};
    if (registry.active(id)) registry.fire(id, x);
    return x;
  }
  bool active(Site site, int layer) const { return registry.active({site, layer}); }
};

// x @ W (+ b) over the last dimension. x: [..., in], W: [in, out], b: [out] or undefined.
at::Tensor linear(const at::Tensor& x, const at::Tensor& W, const at::Tensor& b);

// LayerNorm or RMSNorm without hooks (the fused kernels where libtorch has them).
at::Tensor plain_norm(const at::Tensor& x, const NormWeights& w, const ModelConfig& config);

// LayerNorm or RMSNorm with hook_scale / hook_normalized.
// x: [batch, pos, d_model] -> [batch, pos, d_model]
at::Tensor norm(const at::Tensor& x, const NormWeights& w, const ModelConfig& config, const Hooks& hooks,
                Site scale_site, Site normalized_site, int layer);

// Rotary embedding on interleaved pairs (2i, 2i+1) of each head.
// x: [batch, pos, heads, d_head]; cos/sin: [pos, d_head / 2] for the absolute positions of x.
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// cos/sin tables [n_ctx, d_head / 2] for theta^(-2i / d_head) * position.
std::pair<at::Tensor, at::Tensor> rotary_tables(const ModelConfig& config, const at::TensorOptions& options);

// Where the positions of a pass sit, and the keys/values before them.
struct AttentionContext {
  std::int64_t offset = 0;   // absolute position of the first row
  at::Tensor past_keys;      // [batch, n_past = offset, n_kv_heads, d_head] (after rotary) or undefined
  at::Tensor past_values;    // [batch, n_past, n_kv_heads, d_head] or undefined
  bool last_query_only = false;  // compute the output of the last position only
  bool ungroup = false;          // keys and values per query head (grouped-query attention ungrouped)
};

// Queries, keys and values of one layer before rotary embedding.
struct QueryKeyValue {
  at::Tensor q;  // [batch, pos (1 with last_query_only), H, D]
  at::Tensor k;  // [batch, pos, KV (H when ungrouped), D]
  at::Tensor v;  // [batch, pos, KV (H when ungrouped), D]
};

// Whether a hook sits on the split inputs of layer `layer` (hook_attn_in, hook_q/k/v_input),
// which makes every head read and normalise its own copy of the residual stream.
bool splits_attention_input(const Hooks& hooks, int layer);

// Attention sub-block (with its norm ln1) on the residual stream resid_pre [batch, pos, d_model].
// Returns hook_attn_out [batch, pos, d_model] ([batch, 1, d_model] with last_query_only).
at::Tensor attention(const at::Tensor& resid_pre, const LayerWeights& w, const ModelConfig& config, const Hooks& hooks,
                     int layer, const at::Tensor& rope_cos, const at::Tensor& rope_sin, const AttentionContext& ctx);

// MLP sub-block (GELU-new or SwiGLU) on the normalised input. Returns hook_mlp_out [batch, pos, d_model].
at::Tensor mlp(const at::Tensor& x_norm, const LayerWeights& w, const ModelConfig& config, const Hooks& hooks,
               int layer);

}  // namespace patchbay::detail

#pragma once
// Hook points, named as in TransformerLens. In code a hook is a typed id (site + layer); one
// table (kSiteTable in hooks.cpp) maps sites to names, and everything else uses the enum.
#include <compare>
#include <optional>
#include <string>
#include <vector>

#include "patchbay/model/config.hpp"

namespace patchbay {

// In forward order. Global sites come first and last; the rest are per block.
// Sites marked (optional) are TransformerLens's opt-in hook points (use_hook_tokens,
// use_attn_in, use_split_qkv_input, use_hook_mlp_in): they exist in every model and are
// computed only when hooked, but filters::all() and all_hook_points() leave them out, as a
// TransformerLens model with the default config has none of them.
enum class Site : int {
  Tokens,         // hook_tokens             [batch, pos] int64 (optional)
  Embed,          // hook_embed              [batch, pos, d_model]
  PosEmbed,       // hook_pos_embed          [batch, pos, d_model] (learned positions only)
  ResidPre,       // blocks.L.hook_resid_pre [batch, pos, d_model]
  AttnIn,         // blocks.L.hook_attn_in   [batch, pos, head, d_model] (optional) input of every head
  QInput,         // blocks.L.hook_q_input   [batch, pos, head, d_model] (optional) input of each head's query
  KInput,         // blocks.L.hook_k_input   [batch, pos, kv_head, d_model] (optional) input of each key
  VInput,         // blocks.L.hook_v_input   [batch, pos, kv_head, d_model] (optional) input of each value
  Ln1Scale,       // blocks.L.ln1.hook_scale [batch, pos, 1] divisor: sqrt(mean((x - mean x)^2) + eps), no centring for RMSNorm
  Ln1Normalized,  // blocks.L.ln1.hook_normalized [batch, pos, d_model] (x - mean x) / scale, before weight and bias
  Q,              // blocks.L.attn.hook_q    [batch, pos, head, d_head]
  K,              // blocks.L.attn.hook_k    [batch, pos, kv_head, d_head]
  V,              // blocks.L.attn.hook_v    [batch, pos, kv_head, d_head]
  RotQ,           // blocks.L.attn.hook_rot_q [batch, pos, head, d_head] (rotary only)
  RotK,           // blocks.L.attn.hook_rot_k [batch, pos, kv_head, d_head] (rotary only)
  AttnScores,     // blocks.L.attn.hook_attn_scores [batch, head, q_pos, k_pos], -inf where masked
  Pattern,        // blocks.L.attn.hook_pattern [batch, head, q_pos, k_pos]
  Z,              // blocks.L.attn.hook_z    [batch, pos, head, d_head]
  Result,         // blocks.L.attn.hook_result [batch, pos, head, d_model] (computed only when hooked)
  AttnOut,        // blocks.L.hook_attn_out  [batch, pos, d_model]
  ResidMid,       // blocks.L.hook_resid_mid [batch, pos, d_model]
  MlpIn,          // blocks.L.hook_mlp_in    [batch, pos, d_model] (optional) resid_mid as the MLP reads it, before ln2
  Ln2Scale,       // blocks.L.ln2.hook_scale [batch, pos, 1]
  Ln2Normalized,  // blocks.L.ln2.hook_normalized [batch, pos, d_model] before weight and bias
  MlpPre,         // blocks.L.mlp.hook_pre   [batch, pos, d_mlp] (gate pre-activation for SwiGLU)
  MlpPreLinear,   // blocks.L.mlp.hook_pre_linear [batch, pos, d_mlp] (SwiGLU up projection)
  MlpPost,        // blocks.L.mlp.hook_post  [batch, pos, d_mlp]
  MlpOut,         // blocks.L.hook_mlp_out   [batch, pos, d_model]
  ResidPost,      // blocks.L.hook_resid_post [batch, pos, d_model]
  LnFinalScale,   // ln_final.hook_scale     [batch, pos, 1]
  LnFinalNormalized,  // ln_final.hook_normalized [batch, pos, d_model]
};
inline constexpr int kNumSites = static_cast<int>(Site::LnFinalNormalized) + 1;

bool is_block_site(Site site);
// Axis names of a site's activation, as in the Site comments ("batch", "pos", "d_model", ...;
// "one" for the norms' size-1 scale axis).
std::vector<std::string> hook_axes(Site site);
// TransformerLens's opt-in hook points (see Site).
bool is_optional_site(Site site);

struct HookId {
  Site site = Site::Embed;
  int layer = -1;  // -1 for global sites
  auto operator<=>(const HookId&) const = default;
};

// Constructors that read like TransformerLens names.
namespace hook {
inline HookId tokens() { return {Site::Tokens, -1}; }
inline HookId embed() { return {Site::Embed, -1}; }
inline HookId pos_embed() { return {Site::PosEmbed, -1}; }
inline HookId at(Site site, int layer) { return {site, layer}; }
inline HookId resid_pre(int layer) { return {Site::ResidPre, layer}; }
inline HookId resid_mid(int layer) { return {Site::ResidMid, layer}; }
inline HookId resid_post(int layer) { return {Site::ResidPost, layer}; }
inline HookId attn_out(int layer) { return {Site::AttnOut, layer}; }
inline HookId mlp_out(int layer) { return {Site::MlpOut, layer}; }
inline HookId mlp_in(int layer) { return {Site::MlpIn, layer}; }
inline HookId attn_in(int layer) { return {Site::AttnIn, layer}; }
inline HookId q_input(int layer) { return {Site::QInput, layer}; }
inline HookId k_input(int layer) { return {Site::KInput, layer}; }
inline HookId v_input(int layer) { return {Site::VInput, layer}; }
inline HookId z(int layer) { return {Site::Z, layer}; }
inline HookId pattern(int layer) { return {Site::Pattern, layer}; }
inline HookId ln_final_scale() { return {Site::LnFinalScale, -1}; }
inline HookId ln_final_normalized() { return {Site::LnFinalNormalized, -1}; }
}  // namespace hook

std::string to_string(HookId id);

// Whether a site exists for this architecture (e.g. hook_rot_q only with rotary positions).
bool site_exists(Site site, const ModelConfig& config);

// The hook points a TransformerLens model with the default config has, in forward order
// (what filters::all() records): every point but the optional ones.
std::vector<HookId> all_hook_points(const ModelConfig& config);

// Every hook point of a model including the optional ones, in forward order.
std::vector<HookId> every_hook_point(const ModelConfig& config);

// Parses a TransformerLens hook name. Throws InputError listing the valid names for this model
// when the name is unknown, the site does not exist in this architecture, or the layer is out
// of range.
HookId parse_hook(const std::string& name, const ModelConfig& config);

// Human-readable list of the hook names that exist for a model ("blocks.{0..4}.hook_resid_pre", ...).
std::string describe_hook_points(const ModelConfig& config);

// Position of a hook point in forward order (embeddings < block 0 < block 1 < ... < ln_final).
// Used to decide whether a hook can fire in a forward pass that starts or stops mid-model.
int forward_order(HookId id, const ModelConfig& config);

}  // namespace patchbay

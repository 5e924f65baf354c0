#include "patchbay/model/hooks.hpp"

#include <array>

#include "patchbay/core/error.hpp"

namespace patchbay {
namespace {

struct SiteInfo {
  Site site;
  const char* suffix;  // name after "blocks.L." for block sites, the full name for global ones
  bool block;
  const char* axes;       // the activation's axis names, space-separated (TransformerLens shapes)
  bool optional = false;  // TransformerLens's opt-in points: not in all_hook_points()
};

// The one table that maps sites to TransformerLens names.
constexpr std::array<SiteInfo, kNumSites> kSiteTable = {{
    {Site::Tokens, "hook_tokens", false, "batch pos", true},
    {Site::Embed, "hook_embed", false, "batch pos d_model"},
    {Site::PosEmbed, "hook_pos_embed", false, "batch pos d_model"},
    {Site::ResidPre, "hook_resid_pre", true, "batch pos d_model"},
    {Site::AttnIn, "hook_attn_in", true, "batch pos head d_model", true},
    {Site::QInput, "hook_q_input", true, "batch pos head d_model", true},
    {Site::KInput, "hook_k_input", true, "batch pos kv_head d_model", true},
    {Site::VInput, "hook_v_input", true, "batch pos kv_head d_model", true},
    {Site::Ln1Scale, "ln1.hook_scale", true, "batch pos one"},
    {Site::Ln1Normalized, "ln1.hook_normalized", true, "batch pos d_model"},
    {Site::Q, "attn.hook_q", true, "batch pos head d_head"},
    {Site::K, "attn.hook_k", true, "batch pos kv_head d_head"},
    {Site::V, "attn.hook_v", true, "batch pos kv_head d_head"},
    {Site::RotQ, "attn.hook_rot_q", true, "batch pos head d_head"},
    {Site::RotK, "attn.hook_rot_k", true, "batch pos kv_head d_head"},
    {Site::AttnScores, "attn.hook_attn_scores", true, "batch head q_pos k_pos"},
    {Site::Pattern, "attn.hook_pattern", true, "batch head q_pos k_pos"},
    {Site::Z, "attn.hook_z", true, "batch pos head d_head"},
    {Site::Result, "attn.hook_result", true, "batch pos head d_model"},
    {Site::AttnOut, "hook_attn_out", true, "batch pos d_model"},
    {Site::ResidMid, "hook_resid_mid", true, "batch pos d_model"},
    {Site::MlpIn, "hook_mlp_in", true, "batch pos d_model", true},
    {Site::Ln2Scale, "ln2.hook_scale", true, "batch pos one"},
    {Site::Ln2Normalized, "ln2.hook_normalized", true, "batch pos d_model"},
    {Site::MlpPre, "mlp.hook_pre", true, "batch pos d_mlp"},
    {Site::MlpPreLinear, "mlp.hook_pre_linear", true, "batch pos d_mlp"},
    {Site::MlpPost, "mlp.hook_post", true, "batch pos d_mlp"},
    {Site::MlpOut, "hook_mlp_out", true, "batch pos d_model"},
    {Site::ResidPost, "hook_resid_post", true, "batch pos d_model"},
    {Site::LnFinalScale, "ln_final.hook_scale", false, "batch pos one"},
    {Site::LnFinalNormalized, "ln_final.hook_normalized", false, "batch pos d_model"},
}};

const SiteInfo& info(Site site) { return kSiteTable[static_cast<int>(site)]; }

}  // namespace

bool is_block_site(Site site) { return info(site).block; }

std::vector<std::string> hook_axes(Site site) {
  std::vector<std::string> out;
  std::string_view rest = info(site).axes;
  while (!rest.empty()) {
    const auto space = rest.find(' ');
    out.emplace_back(rest.substr(0, space));
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  }
  return out;
}
bool is_optional_site(Site site) { return info(site).optional; }


std::string to_string(HookId id) {
  const auto& i = info(id.site);
  return i.block ? fmt::format("blocks.{}.{}", id.layer, i.suffix) : std::string(i.suffix);
}

bool site_exists(Site site, const ModelConfig& config) {
  switch (site) {
    case Site::PosEmbed: return config.positions == PositionKind::Learned;
    case Site::RotQ:
    case Site::RotK: return config.positions == PositionKind::Rotary;
    case Site::MlpPreLinear: return config.mlp == MlpKind::SwiGLU;
    default: return true;
  }
}

std::vector<HookId> every_hook_point(const ModelConfig& config) {
  std::vector<HookId> out;
  for (const auto& i : kSiteTable)
    if (!i.block && i.site < Site::ResidPre && site_exists(i.site, config)) out.push_back({i.site, -1});
  for (int layer = 0; layer < config.n_layers; ++layer)
    for (const auto& i : kSiteTable)
      if (i.block && site_exists(i.site, config)) out.push_back({i.site, layer});
  for (const auto& i : kSiteTable)
    if (!i.block && i.site > Site::ResidPost) out.push_back({i.site, -1});
  return out;
}

std::vector<HookId> all_hook_points(const ModelConfig& config) {
  auto out = every_hook_point(config);
  std::erase_if(out, [](HookId id) { return is_optional_site(id.site); });
  return out;
}

std::string describe_hook_points(const ModelConfig& config) {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : ", ") + s; };
  for (const auto& i : kSiteTable) {
    if (!site_exists(i.site, config)) continue;
    add(i.block ? fmt::format("blocks.{{0..{}}}.{}", config.n_layers - 1, i.suffix) : std::string(i.suffix));
  }
  return out;
}

HookId parse_hook(const std::string& name, const ModelConfig& config) {
  auto unknown = [&](const std::string& why) -> HookId {
    fail<InputError>("unknown hook '{}' ({}); valid hooks: {}", name, why, describe_hook_points(config));
  };
  const std::string prefix = "blocks.";
  if (name.rfind(prefix, 0) == 0) {
    std::size_t dot = name.find('.', prefix.size());
    if (dot == std::string::npos || dot == prefix.size()) return unknown("expected blocks.LAYER.NAME");
    std::string layer_text = name.substr(prefix.size(), dot - prefix.size());
    if (layer_text.size() > 6 || layer_text.find_first_not_of("0123456789") != std::string::npos)
      return unknown(fmt::format("'{}' is not a layer number", layer_text));
    int layer = std::stoi(layer_text);
    std::string suffix = name.substr(dot + 1);
    for (const auto& i : kSiteTable) {
      if (!i.block || suffix != i.suffix) continue;
      if (!site_exists(i.site, config))
        return unknown(fmt::format("{} models have no {}", to_string(config.arch), i.suffix));
      if (layer >= config.n_layers)
        return unknown(fmt::format("layer {} is out of range, the model has layers 0..{}", layer, config.n_layers - 1));
      return {i.site, layer};
    }
    return unknown(fmt::format("no block hook named '{}'", suffix));
  }
  for (const auto& i : kSiteTable) {
    if (i.block || name != i.suffix) continue;
    if (!site_exists(i.site, config))
      return unknown(fmt::format("{} models have no {}", to_string(config.arch), i.suffix));
    return {i.site, -1};
  }
  return unknown("no such hook point");
}

int forward_order(HookId id, const ModelConfig& config) {
  if (!is_block_site(id.site)) {
    if (id.site < Site::ResidPre) return static_cast<int>(id.site);
    return static_cast<int>(config.n_layers + 1) * kNumSites + static_cast<int>(id.site);
  }
  return static_cast<int>(id.layer + 1) * kNumSites + static_cast<int>(id.site);
}

}  // namespace patchbay

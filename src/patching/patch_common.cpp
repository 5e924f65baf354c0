#include "patch_common.hpp"

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"

namespace patchbay {

const char* to_string(PatchDirection d) {
  return d == PatchDirection::CleanIntoCorrupted ? "clean_into_corrupted" : "corrupted_into_clean";
}

std::int64_t site_heads(Site site, const ModelConfig& c) {
  switch (site) {
    case Site::Q:
    case Site::RotQ:
    case Site::Z:
    case Site::Result:
    case Site::Pattern:
    case Site::AttnScores: return c.n_heads;
    case Site::K:
    case Site::V:
    case Site::RotK: return c.n_kv_heads;
    default: return 0;
  }
}

std::string PatchSweep::describe() const {
  std::string axes = "layer";
  if (per_head) axes += ", head";
  if (per_position) axes += ", position";
  return fmt::format("{} by ({})", to_string(HookId{site, 0}).replace(7, 1, "*"), axes);
}

std::string PatchSweep::short_name() const {
  auto name = to_string(HookId{site, 0});
  name = name.substr(name.rfind("hook_") + 5);
  return name + "_layer" + (per_head ? "_head" : "") + (per_position ? "_position" : "");
}

PatchSweep PatchSweep::parse(const std::string& short_name) {
  for (int s = 0; s < kNumSites; ++s)
    for (bool per_head : {false, true})
      for (bool per_position : {false, true}) {
        const PatchSweep sweep{static_cast<Site>(s), per_head, per_position};
        if (is_block_site(sweep.site) && sweep.short_name() == short_name) return sweep;
      }
  fail<InputError>("unknown patching sweep '{}' (expected SITE_layer[_head][_position] with SITE a block hook such as z, "
                   "resid_pre, attn_out, mlp_out, q, k, v or pattern, e.g. z_layer_head)", short_name);
}

namespace detail {

int position_axis(Site site) { return site == Site::Pattern || site == Site::AttnScores ? 2 : 1; }
int head_axis(Site site) {
  if (site == Site::Pattern || site == Site::AttnScores) return 1;
  return site_heads(site, ModelConfig{.n_heads = 1, .n_kv_heads = 1}) > 0 ? 2 : -1;
}

bool position_local(Site site) {
  switch (site) {
    case Site::ResidPre:  // feeds every later position's keys and values
    case Site::Ln1Scale:
    case Site::Ln1Normalized:
    case Site::K:
    case Site::V:
    case Site::RotK: return false;
    default: return true;
  }
}

PatchSetup setup_patch(const Model& model, const std::vector<PromptPair>& pairs, const PatchSweep& sweep,
                       PatchDirection direction) {
  const auto& c = model.config();
  if (pairs.empty()) fail<InputError>("no prompt pairs to patch");
  if (!site_exists(sweep.site, c) || !is_block_site(sweep.site))
    fail<InputError>("cannot patch {}: not a block hook point of this model", to_string(HookId{sweep.site, 0}));
  if (sweep.per_head && site_heads(sweep.site, c) == 0)
    fail<InputError>("{} has no head axis to patch per head", to_string(HookId{sweep.site, 0}));
  if (sweep.site == Site::Result || sweep.site == Site::AttnScores)
    fail<InputError>("patch hook_z (per-head outputs) or hook_pattern instead of {}", to_string(HookId{sweep.site, 0}));
  PatchSetup s;
  auto clean = pair_tokens(pairs, 0), corrupted = pair_tokens(pairs, 1);
  for (const auto& p : pairs)
    if (p.target != pairs.front().target) fail<InputError>("pairs have different target positions ({} and {})", p.target, pairs.front().target);
  s.target = pairs.front().target;
  s.length = clean.size(1);
  if (s.target < 0 || s.target >= s.length) fail<InputError>("target position {} outside prompts of {} tokens", s.target, s.length);
  s.receiving_tokens = direction == PatchDirection::CleanIntoCorrupted ? corrupted : clean;
  s.source_tokens = direction == PatchDirection::CleanIntoCorrupted ? clean : corrupted;
  return s;
}

at::Tensor variant_mask(const PatchSweep& sweep, const at::IntArrayRef shape, std::int64_t variants, std::int64_t first) {
  std::vector<std::int64_t> full{variants};
  full.insert(full.end(), shape.begin(), shape.end());
  auto mask = at::zeros(full, at::kBool);
  // Axes of the activation without batch are one less than with batch; +1 for the variant axis.
  const int pos_axis = position_axis(sweep.site), h_axis = head_axis(sweep.site);
  for (std::int64_t v = 0; v < variants; ++v) {
    auto m = mask[v];
    if (sweep.per_position) m = m.narrow(pos_axis - 1, first, 1);
    if (sweep.per_head) m = m.select(h_axis - 1, v);  // narrow kept the axis count
    m.fill_(true);
  }
  return mask;
}

std::vector<std::int64_t> result_shape(const PatchSweep& sweep, std::int64_t pairs, const ModelConfig& c,
                                       std::int64_t length) {
  std::vector<std::int64_t> shape{pairs, c.n_layers};
  if (sweep.per_head) shape.push_back(site_heads(sweep.site, c));
  if (sweep.per_position) shape.push_back(length);
  return shape;
}

PatchResult start_result(const PatchSweep& sweep, PatchDirection direction, const at::Tensor& receiving_metric,
                         const at::Tensor& source_metric) {
  PatchResult r;
  r.sweep = sweep;
  r.direction = direction;
  r.axes = result_axes(sweep);
  const bool denoising = direction == PatchDirection::CleanIntoCorrupted;
  r.clean = denoising ? source_metric : receiving_metric;
  r.corrupted = denoising ? receiving_metric : source_metric;
  return r;
}

std::vector<std::string> result_axes(const PatchSweep& sweep) {
  std::vector<std::string> axes{"pair", "layer"};
  if (sweep.per_head) axes.emplace_back("head");
  if (sweep.per_position) axes.emplace_back("position");
  return axes;
}

PatchResult concat_pairs(std::vector<PatchResult> parts) {
  if (parts.size() == 1) return std::move(parts.front());
  std::vector<at::Tensor> metric, clean, corrupted;
  for (const auto& p : parts) {
    metric.push_back(p.metric);
    clean.push_back(p.clean);
    corrupted.push_back(p.corrupted);
  }
  PatchResult r = std::move(parts.front());
  r.metric = at::cat(metric, 0);
  r.clean = at::cat(clean, 0);
  r.corrupted = at::cat(corrupted, 0);
  return r;
}

at::Tensor integrated_gradients_input(const ActivationCache& receiving, const ActivationCache& source, int step, int ig_steps) {
  if (ig_steps <= 0) return {};
  const double alpha = (step + 0.5) / ig_steps;
  const auto& from = receiving.at(hook::resid_pre(0));
  return from + alpha * (source.at(hook::resid_pre(0)) - from);
}

}  // namespace detail
}  // namespace patchbay

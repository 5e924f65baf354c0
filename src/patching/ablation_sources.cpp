#include "ablation_sources.hpp"

#include <ATen/ATen.h>

#include "patchbay/core/rng.hpp"

namespace patchbay::detail {

at::Tensor AblationSources::of(HookId id, const at::Tensor& like) const {
  auto it = values.find(id);
  return it == values.end() ? at::zeros_like(like) : it->second;
}

namespace {

// For each pair, another prompt of the pool [clean pairs..., corrupted pairs...].
at::Tensor resample_picks(std::int64_t n_pairs, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::int64_t> pick;
  for (std::int64_t i = 0; i < n_pairs; ++i) {
    std::int64_t j;
    do j = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(2 * n_pairs)));
    while (n_pairs > 1 && (j == i || j == i + n_pairs));  // never the pair's own prompts
    pick.push_back(j);
  }
  return at::tensor(pick, at::kLong);
}

}  // namespace

AblationSources ablation_sources(const Model& model, const at::Tensor& clean, const at::Tensor& corrupted, int L,
                                 const AblationOptions& o, const std::vector<HookId>& ids) {
  AblationSources s;
  if (o.kind == AblationKind::Zero) return s;  // zeros, made when asked for
  auto run = [&](const at::Tensor& tokens) {
    return model.run_with_cache(tokens, filters::only(ids), ForwardOptions().stop_after(L)).second;
  };
  auto corrupted_cache = run(corrupted);
  if (o.kind == AblationKind::Corrupted) {
    for (auto id : ids) s.values[id] = corrupted_cache.at(id);
    return s;
  }
  auto clean_cache = run(clean);
  const auto picks = resample_picks(clean.size(0), o.seed);
  for (auto id : ids) {
    auto pool = at::cat({clean_cache.at(id), corrupted_cache.at(id)}, 0);  // the reference distribution
    if (o.kind == AblationKind::Mean) {
      auto mean = o.per_position ? pool.mean(0, true) : pool.mean(at::IntArrayRef{0, 1}, true);
      s.values[id] = mean.expand_as(clean_cache.at(id));
    } else {  // Resample: each pair takes another prompt from the pool
      s.values[id] = pool.index_select(0, picks.to(pool.device()));
    }
  }
  return s;
}

}  // namespace patchbay::detail

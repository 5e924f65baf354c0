#include "ablation_sources.hpp"

#include <ATen/ATen.h>

#include "pair_chunks.hpp"
#include "patchbay/core/rng.hpp"

namespace patchbay::detail {

at::Tensor AblationValues::of(HookId id, const at::Tensor& like) const {
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

AblationSources::AblationSources(const Model& model, at::Tensor clean, at::Tensor corrupted, int readout_layer,
                                 const AblationOptions& options, std::vector<HookId> ids)
    : model_(model), clean_(std::move(clean)), corrupted_(std::move(corrupted)), layer_(readout_layer), options_(options), ids_(std::move(ids)) {
  if (options_.kind == AblationKind::Resample) picks_ = resample_picks(pairs(), options_.seed);
  if (options_.kind != AblationKind::Mean) return;
  // Sums over the pool in float64, a chunk of prompts at a time, then the mean.
  const auto N = pairs(), chunk = rows_per_pass(forward_activation_bytes(model_.config(), clean_.size(1), layer_ + 1));
  std::map<HookId, at::Tensor> sums;
  for (const auto* tokens : {&clean_, &corrupted_})
    for_each_row_chunk(N, chunk, [&](std::int64_t first, std::int64_t count) {
      const auto cache = run(tokens->narrow(0, first, count));
      for (auto id : ids_) {
        const auto& a = cache.at(id);  // [rows, pos, ...]
        auto s = options_.per_position ? a.to(at::kDouble).sum(0, true) : a.to(at::kDouble).sum(at::IntArrayRef{0, 1}, true);
        sums[id] = sums.count(id) ? sums[id] + s : s;
      }
    });
  const double count = 2.0 * static_cast<double>(N) * (options_.per_position ? 1.0 : static_cast<double>(clean_.size(1)));
  for (auto& [id, s] : sums) means_[id] = (s / count).to(at::kFloat);
}

ActivationCache AblationSources::run(const at::Tensor& tokens) const {
  return model_.run_with_cache(tokens, filters::only(ids_), ForwardOptions().stop_after(layer_)).second;
}

AblationValues AblationSources::rows(std::int64_t first, std::int64_t count) const {
  AblationValues out;
  switch (options_.kind) {
    case AblationKind::Zero: break;  // zeros, made when asked for
    case AblationKind::Corrupted: out.values = run(corrupted_.narrow(0, first, count)).entries(); break;
    case AblationKind::Resample: {
      const auto picks = picks_.narrow(0, first, count);
      const auto from_clean = picks.lt(pairs());
      const auto rows = at::where(from_clean, picks, picks - pairs());
      const auto tokens = at::where(from_clean.unsqueeze(1), clean_.index_select(0, rows), corrupted_.index_select(0, rows));
      out.values = run(tokens).entries();
      break;
    }
    case AblationKind::Mean: {
      const auto positions = clean_.size(1);
      for (const auto& [id, mean] : means_) {
        auto shape = mean.sizes().vec();  // [1, pos or 1, ...]
        shape[0] = count;
        shape[1] = positions;
        out.values[id] = mean.to(model_.device()).expand(shape);
      }
      break;
    }
  }
  return out;
}

}  // namespace patchbay::detail

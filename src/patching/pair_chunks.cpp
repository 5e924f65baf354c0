#include "pair_chunks.hpp"

#include <algorithm>

#include <ATen/ATen.h>


namespace patchbay::detail {

void for_each_pair_chunk(const std::vector<PromptPair>& pairs, const Metric& metric, std::int64_t chunk, const PairChunkFn& fn) {
  const auto N = static_cast<std::int64_t>(pairs.size());
  if (N <= chunk) {
    fn(pairs, metric, 0);
    return;
  }
  for_each_row_chunk(N, chunk, [&](std::int64_t first, std::int64_t count) {
    const std::vector<PromptPair> part(pairs.begin() + first, pairs.begin() + first + count);
    fn(part, PairOffsetMetric(metric, first), first);
  });
}

at::Tensor readout_rows(const Model& model, const at::Tensor& tokens, std::int64_t target, int layer) {
  at::InferenceMode no_grad;
  const auto N = tokens.size(0), chunk = rows_per_pass(forward_activation_bytes(model.config(), tokens.size(1), layer + 1));
  std::vector<at::Tensor> parts;  // each [chunk, d_model]
  for_each_row_chunk(N, chunk, [&](std::int64_t first, std::int64_t count) {
    parts.push_back(model.forward(tokens.narrow(0, first, count).to(model.device()), ForwardOptions().stop_after(layer)).select(1, target));
  });
  return parts.size() == 1 ? parts.front() : at::cat(parts, 0);
}

}  // namespace patchbay::detail

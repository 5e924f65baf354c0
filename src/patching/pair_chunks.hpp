#pragma once
// Pairs a chunk at a time (internal to src/patching). Patching, attribution, ablation and
// direct attribution cache activations, or keep an autograd graph, for every pair they run
// together; run on all pairs at once their memory grows with the pairs (stories260K's EAP:
// ~10 MB a pair). Each stage instead takes as many pairs as fit the working-memory budget
// (rows_per_pass, model/activation_memory.hpp) and combines the chunks' results, which are
// per pair or sums over pairs.
#include <cstdint>
#include <functional>
#include <vector>

#include "patchbay/data/pairs.hpp"
#include "patchbay/model/activation_memory.hpp"
#include "patchbay/model/model.hpp"
#include "patchbay/patching/metric.hpp"

namespace patchbay::detail {

// The metric of pairs [first, ...) of a longer list, read as rows 0, 1, ...: a chunk run on its
// own still scores each row against its own pair (per-pair metrics, e.g. KL from each pair's
// clean run, index their pair).
class PairOffsetMetric final : public Metric {
 public:
  PairOffsetMetric(const Metric& whole, std::int64_t first) : whole_(whole), first_(first) {}
  int layer() const override { return whole_.layer(); }
  at::Tensor evaluate(const at::Tensor& resid, const at::Tensor& pair) const override { return whole_.evaluate(resid, pair + first_); }
  std::string name() const override { return whole_.name(); }
  std::string describe() const override { return whole_.describe(); }
  int clean_sign() const override { return whole_.clean_sign(); }

 private:
  const Metric& whole_;
  std::int64_t first_;
};

// Calls fn(chunk, metric of the chunk, first) on consecutive chunks of at most `chunk` pairs
// starting at pair `first`; a list that fits one chunk is passed as it is, with `metric`.
using PairChunkFn = std::function<void(const std::vector<PromptPair>& chunk, const Metric& metric, std::int64_t first)>;
void for_each_pair_chunk(const std::vector<PromptPair>& pairs, const Metric& metric, std::int64_t chunk, const PairChunkFn& fn);

// blocks.{layer}.hook_resid_post at `target` of each row of `tokens` ([rows, pos] ->
// [rows, d_model]), on the model's device: unpatched runs a chunk of rows at a time.
at::Tensor readout_rows(const Model& model, const at::Tensor& tokens, std::int64_t target, int layer);

}  // namespace patchbay::detail

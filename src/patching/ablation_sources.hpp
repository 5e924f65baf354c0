#pragma once
// What an ablated activation is replaced by, for every ablation kind (internal to
// src/patching): shared by component ablation (ablation.cpp) and by edge ablation outside a
// circuit (circuit_metric.cpp), so both draw the same means and the same resampled prompts.
// Replacements are made a chunk of pairs at a time, so their memory does not grow with the
// number of pairs.
#include <map>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/model/model.hpp"
#include "patchbay/patching/ablation.hpp"

namespace patchbay::detail {

// The replacement values of some pairs' hooks, each shaped like their clean run's activation.
struct AblationValues {
  std::map<HookId, at::Tensor> values;  // empty for zero ablation
  // The replacement for `id`: its value, or zeros shaped like `like` (zero ablation).
  at::Tensor of(HookId id, const at::Tensor& like) const;
};

// clean, corrupted: [pair, pos] tokens. The reference distribution of mean ablation and the
// pool resampling draws from are the pairs' prompts, clean and corrupted; a resampled pair
// never draws its own two prompts.
class AblationSources {
 public:
  // Draws the resampled prompts and, for mean ablation, averages the hooks over every prompt
  // (a chunk of prompts at a time).
  AblationSources(const Model& model, at::Tensor clean, at::Tensor corrupted, int readout_layer, const AblationOptions& options,
                  std::vector<HookId> ids);
  // The replacements for pairs [first, first + count): runs the prompts they are drawn from.
  AblationValues rows(std::int64_t first, std::int64_t count) const;
  std::int64_t pairs() const { return clean_.size(0); }

 private:
  ActivationCache run(const at::Tensor& tokens) const;

  const Model& model_;
  at::Tensor clean_, corrupted_;  // [pair, pos]
  int layer_;
  AblationOptions options_;
  std::vector<HookId> ids_;
  at::Tensor picks_;                    // resample: [pair] rows of the pool [clean..., corrupted...]
  std::map<HookId, at::Tensor> means_;  // mean: [1, pos or 1, ...]
};

}  // namespace patchbay::detail

#pragma once
// What an ablated activation is replaced by, for every ablation kind (internal to
// src/patching): shared by component ablation (ablation.cpp) and by edge ablation outside a
// circuit (circuit_metric.cpp), so both draw the same means and the same resampled prompts.
#include <map>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/model/model.hpp"
#include "patchbay/patching/ablation.hpp"

namespace patchbay::detail {

// Replacement values of the hooks `ids`, each shaped like the clean run's activation.
struct AblationSources {
  std::map<HookId, at::Tensor> values;  // empty for zero ablation
  // The replacement for `id`: its value, or zeros shaped like `like` (zero ablation).
  at::Tensor of(HookId id, const at::Tensor& like) const;
};

// clean, corrupted: [pair, pos] tokens. The reference distribution of mean ablation and the
// pool resampling draws from are the pairs' prompts, clean and corrupted; a resampled pair
// never draws its own two prompts.
AblationSources ablation_sources(const Model& model, const at::Tensor& clean, const at::Tensor& corrupted, int readout_layer,
                                 const AblationOptions& options, const std::vector<HookId>& ids);

}  // namespace patchbay::detail

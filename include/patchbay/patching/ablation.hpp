#pragma once
// Ablating heads and MLPs: replace a component's output in the clean run by zero, by its mean
// over a reference distribution (optionally per position), by its value on another prompt
// (resample), or by its value on the pair's corrupted prompt.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/patching/patch.hpp"

namespace patchbay {

enum class AblationKind { Zero, Mean, Resample, Corrupted };
const char* to_string(AblationKind kind);

struct AblationOptions {
  AblationKind kind = AblationKind::Mean;
  bool per_position = false;  // mean ablation: one mean per position instead of one overall
  std::uint64_t seed = 0;     // resample: which other prompt each pair draws
};

// Metric of the clean prompts ([pair]) with `components` ("a1.h3", "m0", "m0.n17") ablated together.
// The reference distribution is the pairs' prompts, clean and corrupted.
at::Tensor ablated_metric(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                          const std::vector<std::string>& components, const AblationOptions& options);

struct AblationSweepResult {
  AblationOptions options;
  std::vector<std::string> components;  // every head and MLP up to the read-out layer
  at::Tensor metric;                    // [pair, component]: the clean metric with that one component ablated
  at::Tensor clean, corrupted;          // [pair]
  // (ablated - clean) / (clean - corrupted), means over pairs: [component]. -1 means the
  // ablation removes the whole clean-vs-corrupted difference.
  at::Tensor effect() const;
};
AblationSweepResult ablation_sweep(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                                   const AblationOptions& options);


}  // namespace patchbay

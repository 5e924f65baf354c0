#pragma once
// Linear (direct) attribution to the probe direction: the residual stream the probe reads,
// blocks.L.hook_resid_post at the target, is exactly the sum of the embeddings, every head's
// output, every attention output bias, and every MLP's output (itself the sum of its neurons'
// contributions plus its bias). Projecting each part onto the probe's class-difference
// direction splits the probe logit difference into per-component contributions that add up
// to the whole.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/model/model.hpp"
#include "patchbay/patching/metric.hpp"
#include "patchbay/patching/edge_layout.hpp"

namespace patchbay {

struct DirectAttribution {
  std::vector<std::string> components;  // "embed", "pos_embed", "a0.h3", "a0.bias", "m0", ...
  at::Tensor contributions;             // [prompt, component]: part . direction
  at::Tensor neurons;                   // [prompt, layer <= L, d_mlp]: each MLP neuron's part (MLP biases excluded)
  at::Tensor mlp_bias;                  // [layer <= L]: b_out . direction (zeros without biases)
  at::Tensor offset;                    // scalar: the probe's constant term
  at::Tensor total;                     // [prompt]: the metric computed from the residual stream directly
  // Index of a component by name; throws InputError when absent.
  std::int64_t index(const std::string& component) const;
};

// tokens: [prompt, pos]; target: position read by the probe.
DirectAttribution direct_attribution(const Model& model, const at::Tensor& tokens, std::int64_t target,
                                     const ProbeLogitDiff& metric);

// Component names (head_name, mlp_name) come from the edge layout.

}  // namespace patchbay

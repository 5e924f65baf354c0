#pragma once
// Pieces shared by the fast and naive patching paths (internal to src/patching).
#include <ATen/core/Tensor.h>

#include "patchbay/patching/patch.hpp"

namespace patchbay::detail {

// Validates the sweep for this model and returns the tokens of the receiving and source runs
// ([pair, pos]), and the common target position.
struct PatchSetup {
  at::Tensor receiving_tokens, source_tokens;
  std::int64_t target = 0;
  std::int64_t length = 0;
};
PatchSetup setup_patch(const Model& model, const std::vector<PromptPair>& pairs, const PatchSweep& sweep,
                       PatchDirection direction);

// Axis along which a site's activation indexes positions (query positions for patterns) and
// heads (-1 when it has none). Activations include the batch axis.
int position_axis(Site site);
int head_axis(Site site);

// Whether a site at the read-out layer influences the target only through its own position.
bool position_local(Site site);

// Boolean mask selecting what variant v patches: [variants, activation shape without batch],
// with `positions` the length of the activation's position axis. Variants enumerate heads when
// per_head, the single position 0 of a suffix when per_position, else everything.
at::Tensor variant_mask(const PatchSweep& sweep, const at::IntArrayRef activation_shape_no_batch, std::int64_t variants,
                        std::int64_t first_position);

// A result with its sweep, direction, axes and the unpatched metrics filled in from the
// receiving and source runs' metrics ([pair]).
PatchResult start_result(const PatchSweep& sweep, PatchDirection direction, const at::Tensor& receiving_metric,
                         const at::Tensor& source_metric);

// Shape of the result's metric tensor and its axis names.
std::vector<std::int64_t> result_shape(const PatchSweep& sweep, std::int64_t pairs, const ModelConfig& config,
                                       std::int64_t length);
std::vector<std::string> result_axes(const PatchSweep& sweep);

// One sweep's results for consecutive chunks of pairs, joined along the pair axis.
PatchResult concat_pairs(std::vector<PatchResult> parts);

// EAP-IG's input embeddings for evaluation `step` of `ig_steps` (midpoint rule): the point
// (step + 1/2) / ig_steps of the way from the receiving run's hook_resid_pre(0) to the source
// run's ([pair, pos, d_model]). Undefined when ig_steps is 0 (plain EAP: the receiving run).
at::Tensor integrated_gradients_input(const ActivationCache& receiving, const ActivationCache& source, int step, int ig_steps);

}  // namespace patchbay::detail

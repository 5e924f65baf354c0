#pragma once
// Path patching: the exact effect of one component's output on another's input. For sender u
// and receiver v, v's input (a head's q, k or v input, an MLP's input, or the probe read-out)
// is recomputed from the receiving run's residual stream plus u's output difference (source
// minus receiving), so only the direct path u -> v carries the change; everything else stays
// as in the receiving run and v's change propagates to the metric. Scores are the change in
// the metric, averaged over pairs, in the same layout as edge attribution (EdgeScores), so
// both feed the circuit graph and can be compared edge by edge.
#include "patchbay/patching/attribution.hpp"

namespace patchbay {

struct PathPatchOptions {
  std::int64_t max_batch = 1024;  // rows (pairs x senders) per forward pass
};

EdgeScores path_patch(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                      PatchDirection direction, const PathPatchOptions& options = {});

}  // namespace patchbay

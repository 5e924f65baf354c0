#pragma once
// Path patching: the exact effect of one component's output on another's input. For sender u
// and receiver v, v's input (a head's q, k or v input, an MLP's input, or the probe read-out)
// is recomputed from the receiving run's residual stream plus u's output difference (source
// minus receiving), so only the direct path u -> v carries the change; everything else stays
// as in the receiving run and v's change propagates to the metric. Scores are the change in
// the metric, averaged over pairs, in the same layout as edge attribution (EdgeScores), so
// both feed the circuit graph and can be compared edge by edge.
#include <optional>

#include "patchbay/patching/attribution.hpp"

namespace patchbay {

// By span (a position-aware graph, positional_edges.hpp): the sender's difference is added at the
// sender span's tokens only, and for a head's keys or values only the receiver span's queries
// read the changed keys (the head's other query positions keep their receiving-run output), so
// each score is the exact effect of that one positional edge. No aggregation is needed: a
// span's tokens are patched together.
struct PathPatchOptions {
  std::int64_t max_batch = 1024;  // rows (pairs x senders x sender spans) per forward pass
  std::optional<SpanSchema> spans;  // none: whole components
};

EdgeScores path_patch(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                      PatchDirection direction, const PathPatchOptions& options = {});

}  // namespace patchbay

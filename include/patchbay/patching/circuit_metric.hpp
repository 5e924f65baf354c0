#pragma once
// The metric of a circuit: the clean prompts run with every edge *outside* the circuit ablated,
// as MIB's circuit track and EAP-IG's evaluate_graph define it. Each receiver (a head's q, k or
// v input, an MLP's input, the read-out) reads its residual stream with the contribution of
// every sender whose edge into it is not kept replaced: the sender's output in this run is
// taken out and its ablated output (zero, mean, mean per position, resample or the corrupted
// prompt's, AblationOptions) put in. Kept edges carry the senders' outputs in this run, so
// changes inside the circuit propagate along it.
#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/patching/ablation.hpp"
#include "patchbay/patching/spans.hpp"

namespace patchbay {

struct CircuitMetricOptions {
  std::int64_t max_batch = 64;  // rows (pairs, times spans by span) per forward pass (the per-layer sender outputs are [rows, pos, senders, d_model])
  // A position-aware circuit: `kept` is in edge_frame(layout, spans)'s order. The pass runs one
  // copy of each pair per span (copy b computes the keys and values the queries of span b
  // read, from their edges), so it costs as many forward passes as there are spans.
  std::optional<SpanSchema> spans;
};

// kept: [sender, receiver] bool in edge_layout(model.config(), metric.layer())'s order (invalid
// pairs are ignored). Returns the metric per pair, [pair]. With every valid edge kept nothing
// is ablated and this is exactly the clean run's metric.
at::Tensor circuit_metric(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric, const at::Tensor& kept,
                          const AblationOptions& ablation, const CircuitMetricOptions& options = {});

}  // namespace patchbay

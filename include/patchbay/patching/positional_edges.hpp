#pragma once
// The edges of a position-aware circuit graph: each sender and receiver of an EdgeLayout at each
// span, connected where the whole components are and, by span, where information can flow:
// within one span for a head's query, an MLP's input and the read-out (the residual stream is
// per position), and from a span to the same or a later one for a head's keys and values
// (attention reads earlier positions). The read-out sits at the target's span, the last.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/edge_layout.hpp"

namespace patchbay {

// The edges' names and validity with zero scores: whole components when `spans` is empty (the
// layout's own), else by span as below. Circuit masks ([sender, receiver] bool) use this order.
EdgeScores edge_frame(const EdgeLayout& layout, const SpanSchema& spans, int readout_layer);

// Scores by span, as the positional methods compute them, turned into EdgeScores:
//   by_span [sender, sender span, receiver (all but the read-out), receiver span]
//   readout [sender, sender span]
// Entries where no edge runs are set to 0.
EdgeScores positional_edge_scores(const EdgeLayout& layout, const SpanSchema& spans, const at::Tensor& by_span,
                                  const at::Tensor& readout, std::string method, int readout_layer);

// valid [sender, sender span, receiver (no read-out), receiver span] and [sender, sender span]
// for the read-out, bool.
std::pair<at::Tensor, at::Tensor> positional_valid(const EdgeLayout& layout, std::int64_t n_spans);

// EAP (ig_steps = 0) and EAP-IG by span: per-token scores (source - receiving output of the
// sender at a token) . d metric / d (receiver's input at that token), where a head's key or value
// input is differentiated through the queries of the receiver span only, aggregated over the
// sender span's tokens per pair, then averaged over pairs. With SpanAggregation::Sum the spans'
// scores of an edge add up to its whole-component EAP score.
EdgeScores positional_edge_attribution(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                                       PatchDirection direction, const SpanSchema& spans, SpanAggregation aggregation,
                                       int ig_steps = 0);

}  // namespace patchbay

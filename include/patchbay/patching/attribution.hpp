#pragma once
// Attribution patching: first-order estimates of patching from gradients of the probe metric.
//   nodes: metric(patched) ~ metric(receiving) + (source - receiving) . d metric / d activation
//   edges (EAP): score(u -> v) = (source - receiving output of u) . d metric / d (input of v),
//          summed over positions, averaged over pairs; the integrated-gradients variant (EAP-IG)
//          averages the gradient over inputs interpolated between the two prompts.
// Two forward passes and one backward pass per gradient evaluation; no per-patch runs.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/patching/patch.hpp"
#include "patchbay/patching/spans.hpp"

namespace patchbay {

// Same shapes and axes as patch_sweep; `metric` holds the first-order estimates.
PatchResult attribution_patch(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                              const PatchSweep& sweep, PatchDirection direction);

// Graph components up to the read-out layer, in the EAP-IG naming: senders "input", "a{l}.h{h}",
// "m{l}"; receivers "a{l}.h{h}<q|k|v>", "m{l}" and the probe read-out "readout" (EAP-IG calls its sink "logits").
// A position-aware graph (spans not empty) names senders "a1.h6@w2" (sender-major, spans in
// order), receivers "a1.h6<k>@w3" likewise and one read-out "readout" at the target's span.
struct EdgeScores {
  std::vector<std::string> senders;
  std::vector<std::string> receivers;
  at::Tensor scores;  // [sender, receiver]; 0 where there is no edge
  at::Tensor valid;   // [sender, receiver] bool: the sender is upstream of the receiver
  int readout_layer = 0;
  std::string method;  // "eap", "eap-ig" or "path"
  SpanSchema spans;             // empty: whole components
  std::string aggregation;      // a position-aware graph's span aggregation ("sum", ...)
  bool positional() const { return !spans.empty(); }
};

// The sender outputs an edge analysis records: blocks.0.hook_resid_pre (the input), each
// layer's hook_result and hook_mlp_out up to the read-out layer.
std::vector<HookId> sender_output_hooks(int readout_layer);

struct EdgeLayout;
// Output difference (source - receiving) of each sender of `layout` [pair, pos, sender, d_model],
// from caches holding sender_output_hooks.
at::Tensor sender_deltas(const EdgeLayout& layout, const ActivationCache& src, const ActivationCache& recv);

// Receiver inputs are the split q/k/v inputs of each head (keys and values one per query head,
// as EAP-IG scores grouped-query attention) and each MLP's hook_mlp_in.
// ig_steps = 0: EAP (gradient at the receiving run). ig_steps > 0: EAP-IG with that many steps.
EdgeScores edge_attribution(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                            PatchDirection direction, int ig_steps = 0);

// Pearson correlation of two tensors' entries (e.g. attribution vs exact patching effects).
double correlation(const at::Tensor& a, const at::Tensor& b);

}  // namespace patchbay

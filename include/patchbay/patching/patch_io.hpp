#pragma once
// The HDF5 layout of patching results, shared by every result kind that holds them (counting
// circuits, `patchbay patch`). One writer and one reader per group; docs/FORMAT.md lists the
// names, which are a contract outside checks read:
//   patching/<sweep>/<direction>/{metric,clean,corrupted,effect}
//   attribution/<sweep>/{metric,clean,corrupted,effect}, attribute correlation_with_patching
//   ablation/<kind>/{metric,clean,corrupted,effect,components}
//   edges/{scores,valid,senders,receivers}
//   pairs/{clean,corrupted,target,correct,incorrect}
//   root attributes metric, metric_description, metric_layer, metric_clean_sign, metric_clean,
//   metric_corrupted, metric_difference, metric_standard_error, metric_separated, metric_warning
// Readers return what is there (empty when a group is absent) and throw FormatError naming
// the file and dataset when something present is inconsistent.
#include <string>
#include <vector>

#include "patchbay/patching/ablation.hpp"
#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/patch.hpp"

namespace patchbay {

class H5Writer;
class H5Reader;

void write_patch_results(H5Writer& out, const std::vector<PatchResult>& results);
std::vector<PatchResult> read_patch_results(const H5Reader& in);

// Attribution-patching estimates of one sweep (clean into corrupted) and their correlation
// with the exact sweep of the same shape.
struct AttributionResult {
  PatchResult estimate;
  double correlation_with_patching = 0;
};
void write_attribution(H5Writer& out, const AttributionResult& attribution);
std::vector<AttributionResult> read_attributions(const H5Reader& in);

void write_ablations(H5Writer& out, const std::vector<AblationSweepResult>& ablations);
std::vector<AblationSweepResult> read_ablations(const H5Reader& in);

// What a result measured, and whether the metric tells its clean and corrupted prompts apart.
struct MetricInfo {
  std::string name, description;
  int layer = 0;
  int clean_sign = 1;
  MetricSeparation separation;
};
MetricInfo metric_info(const Metric& metric, const at::Tensor& clean, const at::Tensor& corrupted);
void write_metric_info(H5Writer& out, const MetricInfo& info);
MetricInfo read_metric_info(const H5Reader& in);

// The pairs' tokens, target and answers (when they have them). Read back: tokens, target and
// answers only (no word structure).
void write_pairs(H5Writer& out, const std::vector<PromptPair>& pairs);
std::vector<PromptPair> read_pairs(const H5Reader& in);

void write_edge_scores(H5Writer& out, const EdgeScores& edges);
// Undefined tensors when the file has no edge scores.
EdgeScores read_edge_scores(const H5Reader& in);

}  // namespace patchbay

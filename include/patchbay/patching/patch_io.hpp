#pragma once
// The HDF5 layout of patching results, shared by every result kind that holds them (counting
// circuits, `patchbay patch`). One writer and one reader per group; docs/FORMAT.md lists the
// names, which are a contract outside checks read:
//   patching/<sweep>/<direction>/{metric,clean,corrupted,effect}
//   attribution/<sweep>/{metric,clean,corrupted,effect}, attribute correlation_with_patching
//   ablation/<kind>/{metric,clean,corrupted,effect,components}
//   edges/{scores,valid,senders,receivers}
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

void write_edge_scores(H5Writer& out, const EdgeScores& edges);
// Undefined tensors when the file has no edge scores.
EdgeScores read_edge_scores(const H5Reader& in);

}  // namespace patchbay

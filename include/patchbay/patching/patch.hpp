#pragma once
// Exact activation patching between clean and corrupted prompt pairs. A sweep is three parts,
// as in TransformerLens: what to iterate over (layer, and optionally head and/or position), how
// to patch (copy the source run's activation into the receiving run), and the metric (the
// probe's logit difference at the target).
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/data/pairs.hpp"
#include "patchbay/model/model.hpp"
#include "patchbay/patching/metric.hpp"

namespace patchbay {

enum class PatchDirection {
  CleanIntoCorrupted,  // "denoising": run the corrupted prompt with clean activations patched in
  CorruptedIntoClean,  // "noising": run the clean prompt with corrupted activations patched in
};
const char* to_string(PatchDirection d);

struct PatchSweep {
  Site site = Site::Z;
  bool per_head = false;      // a separate patch per head (sites with a head axis)
  bool per_position = false;  // a separate patch per position (query position for patterns)

  static PatchSweep resid_pre_by_position() { return {Site::ResidPre, false, true}; }
  static PatchSweep attn_out_by_position() { return {Site::AttnOut, false, true}; }
  static PatchSweep mlp_out_by_position() { return {Site::MlpOut, false, true}; }
  static PatchSweep heads() { return {Site::Z, true, false}; }
  static PatchSweep heads_by_position() { return {Site::Z, true, true}; }
  static PatchSweep head_site(Site site) { return {site, true, false}; }  // Q, K, V or Pattern by (layer, head)
  std::string describe() const;   // "blocks.*.attn.hook_z by (layer, head, position)"
  std::string short_name() const; // "z_layer_head_position"
  // The sweep whose short_name() this is; InputError listing the form when there is none.
  static PatchSweep parse(const std::string& short_name);
  bool operator==(const PatchSweep&) const = default;
};

struct PatchResult {
  PatchSweep sweep;
  PatchDirection direction = PatchDirection::CleanIntoCorrupted;
  std::vector<std::string> axes;  // names of metric's axes: "pair", "layer", then "head" and/or "position"
  at::Tensor metric;              // [pair, layer, (head), (position)]: the metric of each patched run
  at::Tensor clean;               // [pair]: unpatched clean metric
  at::Tensor corrupted;           // [pair]: unpatched corrupted metric
  // (patched - corrupted) / (clean - corrupted), means over pairs: [layer, (head), (position)].
  at::Tensor effect() const { return normalised_effect(metric, clean, corrupted); }
};

struct PatchOptions {
  // Rows per batched forward pass (variants x pairs); bounds memory.
  std::int64_t max_batch = 2048;
  // Patch positions run together in one batch (rows for a later position recompute the few
  // earlier positions, which the patch cannot change). 0 = chosen from the batch size: GEMMs on
  // few rows are dominated by packing the weights.
  std::int64_t position_bucket = 0;
};

// The fast exact path: each patched run starts at the patched layer from the receiving run's
// cached residual stream, covers only positions from the patched one on (earlier keys and
// values come from the cache), computes only the target position at the read-out layer, and
// runs all variants of a layer and position as one batch. Patches that cannot change the
// metric (layers after the read-out, positions after the target, position-local components at
// the read-out layer away from the target, positions where the pair's two prompts still agree
// token for token) are not run: their metric is exactly the receiving run's.
// No host synchronisation until the result is returned.
PatchResult patch_sweep(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                        const PatchSweep& sweep, PatchDirection direction, const PatchOptions& options = {});

// The reference loop TransformerLens users write: one forward pass per patch from the
// embeddings, reading the metric back to the host after each. Same result; used to check the
// fast path and as the benchmark baseline.
PatchResult patch_sweep_naive(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                              const PatchSweep& sweep, PatchDirection direction);

// Number of heads along a site's head axis (n_kv_heads for k and v), or 0 for sites without one.
std::int64_t site_heads(Site site, const ModelConfig& config);

}  // namespace patchbay

#include "patchbay/experiments/patching_study.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/warnings.hpp"
#include "patchbay/experiments/discover_checkpoint.hpp"
#include "patchbay/patching/path.hpp"

namespace patchbay {

EdgeMethod parse_edge_method(const std::string& name) {
  for (auto m : {EdgeMethod::Path, EdgeMethod::Eap, EdgeMethod::EapIg})
    if (name == to_string(m)) return m;
  fail<InputError>("unknown edge method '{}' (expected path, eap or eap-ig)", name);
}

const char* to_string(EdgeMethod m) {
  switch (m) {
    case EdgeMethod::Path: return "path";
    case EdgeMethod::Eap: return "eap";
    case EdgeMethod::EapIg: return "eap-ig";
  }
  return "?";
}

std::vector<PatchSweep> default_sweeps() {
  return {PatchSweep::resid_pre_by_position(), PatchSweep::attn_out_by_position(), PatchSweep::mlp_out_by_position(),
          PatchSweep::heads(),                 PatchSweep::heads_by_position(),    PatchSweep::head_site(Site::Q),
          PatchSweep::head_site(Site::K),      PatchSweep::head_site(Site::V),     PatchSweep::head_site(Site::Pattern)};
}

const PatchResult& PatchingStudyResults::patch(const PatchSweep& sweep, PatchDirection direction) const {
  for (const auto& p : patching)
    if (p.sweep == sweep && p.direction == direction) return p;
  fail<InputError>("no patching sweep {} ({}) in these results", sweep.short_name(), to_string(direction));
}

namespace {

std::vector<PatchResult> patch_every_sweep(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                                           const std::vector<PatchSweep>& sweeps, const DiscoverCheckpoint* checkpoint) {
  std::vector<PatchResult> out;
  for (const auto& sweep : sweeps)
    for (auto direction : {PatchDirection::CleanIntoCorrupted, PatchDirection::CorruptedIntoClean}) {
      if (auto done = checkpoint ? checkpoint->patch_result(sweep, direction) : std::nullopt) {
        out.push_back(std::move(*done));
        continue;
      }
      out.push_back(patch_sweep(model, pairs, metric, sweep, direction));
      if (checkpoint) checkpoint->save(out.back());
    }
  return out;
}

std::vector<AttributionResult> attribute_every_sweep(const Model& model, const PatchingStudyResults& r, const Metric& metric,
                                                     const std::vector<PatchSweep>& sweeps) {
  std::vector<AttributionResult> out;
  for (const auto& sweep : sweeps) {
    AttributionResult a{attribution_patch(model, r.pairs, metric, sweep, PatchDirection::CleanIntoCorrupted)};
    a.correlation_with_patching = correlation(a.estimate.effect(), r.patch(sweep, PatchDirection::CleanIntoCorrupted).effect());
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<AblationSweepResult> ablate_each_component(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                                                       const PatchingStudyOptions& o) {
  std::vector<AblationSweepResult> out;
  for (auto kind : o.ablations) {
    AblationOptions a = o.ablation;
    a.kind = kind;
    out.push_back(ablation_sweep(model, pairs, metric, a));
  }
  return out;
}

EdgeScores score_edges(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric, const PatchingStudyOptions& o,
                       const DiscoverCheckpoint* checkpoint) {
  if (auto done = checkpoint ? checkpoint->edges() : std::nullopt) return std::move(*done);
  EdgeScores edges;
  switch (*o.graph) {
    case EdgeMethod::Eap: edges = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, 0); break;
    case EdgeMethod::EapIg: edges = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, o.ig_steps); break;
    case EdgeMethod::Path: edges = path_patch(model, pairs, metric, PatchDirection::CleanIntoCorrupted); break;
  }
  if (checkpoint) checkpoint->save(edges);
  return edges;
}

// Circuit sizes of the faithfulness curve: the options' sizes, or 1, 2, 4, ... edges; always all edges.
std::vector<std::size_t> faithfulness_sizes(const PatchingStudyOptions& o, std::size_t all_edges) {
  auto sizes = o.faithfulness_sizes;
  if (sizes.empty())
    for (std::size_t k = 1; k < all_edges; k *= 2) sizes.push_back(k);
  sizes.push_back(all_edges);
  return sizes;
}

void check_options(const PatchingStudyOptions& o, const std::vector<PromptPair>& pairs) {
  if (pairs.empty()) fail<InputError>("a patching study needs at least one pair");
  if (o.sweeps.empty()) fail<InputError>("a patching study needs at least one sweep");
  for (const auto& a : o.attribution_sweeps)
    if (std::find(o.sweeps.begin(), o.sweeps.end(), a) == o.sweeps.end())
      fail<InputError>("attribution sweep {} is not among the exact sweeps (its correlation needs the exact one)", a.short_name());
}

}  // namespace

PatchingStudyResults run_patching_study(const Model& model, std::vector<PromptPair> pairs, const Metric& metric,
                                        const PatchingStudyOptions& o, GraphInfo info, const DiscoverCheckpoint* checkpoint) {
  check_options(o, pairs);
  PatchingStudyResults r;
  r.pairs = std::move(pairs);
  r.patching = patch_every_sweep(model, r.pairs, metric, o.sweeps, checkpoint);
  // The unpatched metrics of the heads sweep when there is one (discover's summary always read those).
  const auto heads = std::find_if(r.patching.begin(), r.patching.end(), [](const PatchResult& p) { return p.sweep == PatchSweep::heads(); });
  const auto& unpatched = heads != r.patching.end() ? *heads : r.patching.front();
  r.metric = metric_info(metric, unpatched.clean, unpatched.corrupted);
  // Every normalised effect below divides by clean - corrupted: say so when it means nothing.
  if (!r.metric.separation.separated) warn(r.metric.separation.warning);
  r.attributions = attribute_every_sweep(model, r, metric, o.attribution_sweeps);
  r.ablations = ablate_each_component(model, r.pairs, metric, o);
  if (!o.graph) return r;
  r.edges = score_edges(model, r.pairs, metric, o, checkpoint);
  info.method = r.edges.method;
  if (info.metric.empty()) info.metric = fmt::format("{}, target position {}", metric.describe(), r.pairs.front().target);
  r.graph = CircuitGraph::from_edge_scores(r.edges, std::move(info));
  r.faithfulness = faithfulness_curve(model, r.pairs, metric, r.graph, faithfulness_sizes(o, r.graph.num_edges()));
  r.graph.keep_top_k(o.top_edges);
  return r;
}

}  // namespace patchbay

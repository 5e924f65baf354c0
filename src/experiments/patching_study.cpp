#include "patchbay/experiments/patching_study.hpp"

#include <chrono>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/core/warnings.hpp"
#include "patchbay/experiments/study_checkpoint.hpp"
#include "patchbay/patching/path.hpp"
#include "patchbay/patching/positional_edges.hpp"

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
                                           const std::vector<PatchSweep>& sweeps, const StudyCheckpoint* checkpoint) {
  std::vector<PatchResult> out;
  for (const auto& sweep : sweeps)
    for (auto direction : {PatchDirection::CleanIntoCorrupted, PatchDirection::CorruptedIntoClean}) {
      if (auto done = checkpoint ? checkpoint->patch_result(sweep, direction, static_cast<std::int64_t>(pairs.size())) : std::nullopt) {
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

// The spans of a position-aware study (empty for whole components).
SpanSchema study_spans(const PatchingStudyOptions& o, const std::vector<PromptPair>& pairs) {
  return o.positional ? span_schema(pairs) : SpanSchema{};
}

EdgeScores score_edges(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric, const PatchingStudyOptions& o,
                       EdgeMethod method, const StudyCheckpoint* checkpoint) {
  const auto spans = study_spans(o, pairs);
  if (auto done = checkpoint ? checkpoint->edges() : std::nullopt) {
    done->spans = spans;  // the checkpoint keeps the scores; the spans are the pairs'
    if (o.positional && method != EdgeMethod::Path) done->aggregation = to_string(*o.positional);
    return std::move(*done);
  }
  EdgeScores edges;
  const auto direction = PatchDirection::CleanIntoCorrupted;
  const int ig_steps = method == EdgeMethod::EapIg ? o.ig_steps : 0;
  if (method == EdgeMethod::Path) {
    PathPatchOptions path;
    if (o.positional) path.spans = spans;
    edges = path_patch(model, pairs, metric, direction, path);
  } else if (o.positional) {
    edges = positional_edge_attribution(model, pairs, metric, direction, spans, *o.positional, ig_steps);
  } else {
    edges = edge_attribution(model, pairs, metric, direction, ig_steps);
  }
  if (checkpoint) checkpoint->save(edges);
  return edges;
}

// One method's circuit: its edge scores, the graph pruned to the kept size, its faithfulness
// under every ablation, its ROC AUC against the ground truth, and the seconds all that took.
struct ScoredCircuit {
  EdgeScores edges;
  CircuitGraph graph;
  Faithfulness faithfulness;
  std::optional<GroundTruthAuc> ground_truth;
  double seconds = 0;
};

ScoredCircuit scored_circuit(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric, const PatchingStudyOptions& o,
                             EdgeMethod method, GraphInfo info, const StudyCheckpoint* checkpoint) {
  const auto start = std::chrono::steady_clock::now();
  ScoredCircuit c;
  c.edges = score_edges(model, pairs, metric, o, method, checkpoint);
  info.method = c.edges.method;
  if (info.metric.empty()) info.metric = fmt::format("{}, target position {}", metric.describe(), pairs.front().target);
  c.graph = CircuitGraph::from_edge_scores(c.edges, std::move(info));
  c.graph.keep_top_k(o.top_edges);
  FaithfulnessOptions evaluation{.ablations = circuit_ablations(o.ablation.seed), .fractions = o.faithfulness_fractions};
  if (o.positional) evaluation.spans = c.edges.spans;
  c.faithfulness = faithfulness(model, pairs, metric, c.graph, evaluation);
  if (o.ground_truth) c.ground_truth = ground_truth_auc(c.graph, *o.ground_truth);
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return c;
}

// The comparison table: the study's own method first, then each other method asked for.
MethodComparison compare_methods(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric, const PatchingStudyOptions& o,
                                 const GraphInfo& info, const ScoredCircuit& own) {
  MethodComparison c;
  c.ablations = own.faithfulness.ablations;
  c.rows.push_back(comparison_row(own.edges.method, own.graph, own.faithfulness, own.ground_truth, own.seconds));
  for (auto method : o.compare_methods) {
    if (method == *o.graph) continue;
    const auto other = scored_circuit(model, pairs, metric, o, method, info, nullptr);
    c.rows.push_back(comparison_row(other.edges.method, other.graph, other.faithfulness, other.ground_truth, other.seconds));
  }
  return c;
}

// What the study keeps for every pair: its two prompts and every per-pair result (each sweep's
// metric in both directions, each attribution, each ablation sweep), float32.
double result_bytes_per_pair(const ModelConfig& c, const PatchingStudyOptions& o, std::int64_t length) {
  double floats = 0;
  auto per_pair = [&](const PatchSweep& sweep) {  // [layer, (head), (position)], and the unpatched clean and corrupted metrics
    return static_cast<double>(c.n_layers * (sweep.per_head ? site_heads(sweep.site, c) : 1) * (sweep.per_position ? length : 1)) + 2;
  };
  for (const auto& sweep : o.sweeps) floats += 2 * per_pair(sweep);
  for (const auto& sweep : o.attribution_sweeps) floats += per_pair(sweep);
  floats += static_cast<double>(o.ablations.size()) * (static_cast<double>(c.n_layers * (c.n_heads + 1)) + 2);
  return 4 * floats + 2 * 16 * static_cast<double>(length);  // tokens and word indices of both prompts
}

// The per-pair results: a lower bound on the study's peak (the chunks of pairs in flight add up
// to a few times the pass budget), refused before any work when the machine has less (#17:
// --pairs 100000 grew at 600 MB/s with no warning; passes are chunked now, results are not).
void check_study_memory(const ModelConfig& c, const PatchingStudyOptions& o, const std::vector<PromptPair>& pairs) {
  const auto length = static_cast<std::int64_t>(pairs.front().clean.tokens.size());
  const double per_pair = result_bytes_per_pair(c, o, length);
  require_available_memory(static_cast<double>(pairs.size()) * per_pair,
                           fmt::format("the results of {} pairs of {} tokens ({:.1f} KiB a pair)", pairs.size(), length, per_pair / 1024),
                           "use fewer pairs");
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
                                        const PatchingStudyOptions& o, GraphInfo info, const StudyCheckpoint* checkpoint) {
  check_options(o, pairs);
  check_study_memory(model.config(), o, pairs);
  if ((o.ground_truth || !o.compare_methods.empty()) && !o.graph)
    fail<InputError>("a ground truth or a method comparison scores circuit graphs: choose a graph method");
  if (o.ground_truth) {
    o.ground_truth->check_against(edge_layout(model.config(), metric.layer()), study_spans(o, pairs));
  }
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
  auto own = scored_circuit(model, r.pairs, metric, o, *o.graph, info, checkpoint);
  if (!o.compare_methods.empty()) r.comparison = compare_methods(model, r.pairs, metric, o, info, own);
  r.edges = std::move(own.edges);
  r.graph = std::move(own.graph);
  r.faithfulness = std::move(own.faithfulness);
  r.ground_truth = std::move(own.ground_truth);
  return r;
}

}  // namespace patchbay

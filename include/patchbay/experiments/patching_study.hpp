#pragma once
// A patching study of any pairs and any metric: exact activation patching of every sweep in
// both directions, attribution patching of each sweep with its correlation to exact patching,
// zero/mean/resample ablation of every head and MLP, and optionally the circuit graph (edges
// scored by path patching, EAP or EAP-IG) with its faithfulness curve. `patchbay patch` runs it
// on a pairs file; the counting-circuit study (`discover`) is this study on word-index pairs
// with the probe's metric, plus the analyses that need a probe.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "patchbay/data/pairs.hpp"
#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/graph/method_comparison.hpp"
#include "patchbay/graph/ground_truth.hpp"
#include "patchbay/patching/ablation.hpp"
#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/metric.hpp"
#include "patchbay/patching/patch_io.hpp"

namespace patchbay {

class StudyCheckpoint;

// How edges are scored: path patching (exact), EAP, or EAP-IG.
enum class EdgeMethod { Path, Eap, EapIg };
EdgeMethod parse_edge_method(const std::string& name);  // "path", "eap", "eap-ig"
const char* to_string(EdgeMethod m);

// The sweeps `discover` and `patch` run by default: the residual stream, attention and MLP
// outputs by position, heads, heads by position, and what heads read (q, k, v, pattern).
std::vector<PatchSweep> default_sweeps();

struct PatchingStudyOptions {
  std::vector<PatchSweep> sweeps = default_sweeps();
  std::vector<PatchSweep> attribution_sweeps = default_sweeps();  // each must be in `sweeps` (for its correlation)
  std::vector<AblationKind> ablations = {AblationKind::Zero, AblationKind::Mean, AblationKind::Resample};
  AblationOptions ablation;            // per_position and seed for mean and resample ablation
  std::optional<EdgeMethod> graph;     // none: no circuit graph
  // Position-aware graph: nodes are (component, span) over span_schema(pairs), EAP and EAP-IG
  // aggregate a span's token scores this way (path patching patches a span's tokens together).
  std::optional<SpanAggregation> positional;
  int ig_steps = 5;
  std::size_t top_edges = 20;          // size of the recorded circuit
  std::vector<double> faithfulness_fractions = mib_edge_fractions();  // circuit sizes, fractions of all edges
  std::optional<GroundTruth> ground_truth;  // a known circuit: the graph's scores get its ROC AUC
  // More methods scored on the same pairs, each pruned to top_edges and evaluated: with any,
  // `comparison` holds one row per method, `graph`'s first (the file's graph is `graph`'s).
  std::vector<EdgeMethod> compare_methods;
};

struct PatchingStudyResults {
  std::vector<PromptPair> pairs;
  std::vector<PatchResult> patching;          // every sweep, both directions
  std::vector<AttributionResult> attributions;
  std::vector<AblationSweepResult> ablations;
  MetricInfo metric;                          // what was measured, and whether it separates the pairs
  EdgeScores edges;                           // undefined scores without a graph
  CircuitGraph graph;
  Faithfulness faithfulness;                  // under every circuit ablation (resample seed: ablation.seed)
  std::optional<GroundTruthAuc> ground_truth; // with a ground truth
  MethodComparison comparison;                // with compare_methods
  // The result of one sweep in one direction; throws InputError when it was not run.
  const PatchResult& patch(const PatchSweep& sweep, PatchDirection direction) const;
  bool has_graph() const { return edges.scores.defined(); }
  nlohmann::json summary() const;
};

// `graph_info` describes the graph (method and sink are filled in here). With a checkpoint,
// completed sweeps and edge scores are read back and new ones saved.
PatchingStudyResults run_patching_study(const Model& model, std::vector<PromptPair> pairs, const Metric& metric,
                                        const PatchingStudyOptions& options, GraphInfo graph_info,
                                        const StudyCheckpoint* checkpoint = nullptr);

// The study's groups in a result file (pairs, metric, patching, attribution, ablation, edges,
// graph), and the one reader of them.
void write_patching_study(H5Writer& out, const PatchingStudyResults& results);
PatchingStudyResults read_patching_study(const H5Reader& in);

// A `patchbay patch` result file (kind "patching"): the study, provenance (the pairs file as
// input) and config, then its report beside it. Returns the paths written, the HDF5 file first.
std::vector<std::string> write_patching_results(const std::string& path, bool overwrite, const Model& model,
                                                const nlohmann::json& config, const std::vector<std::string>& inputs,
                                                const PatchingStudyResults& results);

}  // namespace patchbay

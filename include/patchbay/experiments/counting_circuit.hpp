#pragma once
// The counting-circuit study: which heads, MLPs and neurons compute the word-index feature the
// probe reads? The patching study (experiments/patching_study.hpp) on token-aligned word-index
// pairs (3|1 vs 1|2|1 by default) with the probe's logit difference as the metric, plus what
// needs a probe: direct attribution, attention-pattern head scores, the attention of the top
// heads, and ablating the probe directions on general text.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "patchbay/analysis/direct.hpp"
#include "patchbay/analysis/direction_ablation.hpp"
#include "patchbay/analysis/heads.hpp"
#include "patchbay/data/pairs.hpp"
#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/patching/ablation.hpp"
#include "patchbay/patching/attribution.hpp"
#include "patchbay/experiments/patching_study.hpp"
#include "patchbay/patching/patch_io.hpp"
#include "patchbay/probe/probe_source.hpp"

namespace patchbay {

struct CountingCircuitOptions {
  PairOptions pairs;             // splits, number, prefix, seed (prefix/bos default to the probe's run)
  EdgeMethod method = EdgeMethod::Eap;
  std::optional<SpanAggregation> positional;  // a position-aware graph over the pairs' word spans (PatchingStudyOptions)
  int ig_steps = 5;
  std::size_t top_edges = 20;    // size of the recorded circuit
  std::vector<double> faithfulness_fractions = mib_edge_fractions();  // circuit sizes, fractions of all edges
  std::optional<GroundTruth> ground_truth;  // a known circuit: the graph's scores get its ROC AUC
  std::vector<EdgeMethod> compare_methods;  // more methods compared on the same pairs (PatchingStudyOptions)
  AblationOptions mean_ablation{.kind = AblationKind::Mean};
  int head_score_prompts = 64;
  int attention_example_heads = 4;
  // Completed patching sweeps and edge scores are kept here and read back by a later run with
  // the same probe contents and options (StudyCheckpoint). Empty: no checkpoints.
  std::string checkpoint_dir;
};

// The options that decide a run's results, as recorded in its file's `config` and checkpoint.
nlohmann::json counting_circuit_config(const CountingCircuitOptions& options, const ProbeSource& probe);

// Default splits for a probe trained on words of `lengths` tokens: the original 3|1 vs 1|2|1
// when one-token words are in its distribution, otherwise 2m|m vs m|m|m for the shortest m.
std::pair<std::vector<int>, std::vector<int>> default_splits(const std::vector<int>& lengths);

// Pairs from the probe run's own distribution: its prefix, its BOS setting and word lengths,
// with default_splits for them. The one place a probe run's dataset settings are read.
PairOptions pair_options_for(const ProbeSource& probe);

// The study's results (pairs, patching, attribution of heads by position, ablations, edges,
// graph, faithfulness) and the probe's analyses.
struct CountingCircuitResults : PatchingStudyResults {
  std::int64_t to = 0, from = 0;  // metric = logit(to) - logit(from)
  DirectAttribution direct_clean, direct_corrupted;
  HeadScores head_scores;
  // Patterns of the heads with the largest exact-patching effect on the first pair's prompts.
  std::vector<AttentionExample> attention_examples;  // clean, corrupted
  DirectionAblationResult direction_ablation;
  nlohmann::json summary() const;
};

CountingCircuitResults run_counting_circuit(const Model& model, const ProbeSource& probe,
                                            const CountingCircuitOptions& options);

// One HDF5 file (written atomically), then its report (HTML and standalone SVG figures) beside
// it; returns the paths written, the HDF5 file first and the report second.
std::vector<std::string> write_counting_circuit(const std::string& path, bool overwrite, const Model& model,
                                                const ProbeSource& probe, const CountingCircuitOptions& options,
                                                const CountingCircuitResults& results);

// A counting-circuit result file read back, for the report and for drivers: the results as
// written (pairs hold their tokens and target; groups an older file lacks stay empty).
struct CountingCircuitFile {
  std::string path, model;
  nlohmann::json summary, config, provenance;
  CountingCircuitResults results;
};
// Throws FormatError naming the file when it is of another kind or inconsistent.
CountingCircuitFile read_counting_circuit(const H5Reader& in);

}  // namespace patchbay

#pragma once
// The word-index probing experiment: does the residual stream encode which word of the
// sentence a token belongs to, beyond its absolute position? Generates the dataset, extracts
// activations, trains one probe per layer, and measures the baselines and a control task in
// the same run.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "patchbay/data/word_index.hpp"
#include "patchbay/model/model.hpp"
#include "patchbay/probe/evaluate.hpp"
#include "patchbay/probe/extract.hpp"
#include "patchbay/probe/logistic.hpp"

namespace patchbay {

struct WordIndexExperimentOptions {
  WordIndexOptions data;
  std::vector<int> layers;       // -1 = embeddings; empty = embeddings and every block
  int main_layer = -2;           // layer of the key plot; -2 = min(3, n_layers - 1), the original's layer 3
  ProbeOptions probe;
  ExtractOptions extract;
  std::string activations_cache; // HDF5 file of extracted features to reuse (or create); empty = none
  double works_margin = 0.05;    // a layer "works" when it beats the absolute-position baseline by this much
  // Progress is saved here as it is made (the extracted features, then each layer's probes, each
  // file written atomically); a run given a directory that holds earlier progress for the same
  // model and dataset continues from it, with identical results. Empty: no checkpoints.
  std::string checkpoint_dir;
};

struct LayerProbeResult {
  int layer = 0;                 // -1 = embeddings
  LogisticProbe probe;
  double train_accuracy = 0;
  Evaluation val;
  LogisticProbe control_probe;   // trained on the control task's labels
  double control_accuracy = 0;   // validation accuracy on the control task
  double selectivity() const { return val.accuracy - control_accuracy; }
};

struct WordIndexResults {
  WordIndexDataset dataset;
  std::vector<LayerProbeResult> layers;
  Evaluation abs_position_baseline;  // classifier on absolute position alone
  Evaluation space_count_baseline;   // classifier on the number of space-initial tokens since the prefix
  int main_layer = 0;
  std::optional<int> earliest_working_layer;
  double extract_seconds = 0, train_seconds = 0;
  std::vector<std::string> input_files;  // result files the run read (a reused activation cache): provenance.inputs

  const LayerProbeResult& layer(int l) const;
  bool all_converged() const;
  double chance() const { return 1.0 / dataset.n_classes(); }
  // The run's headline numbers, as printed by --json.
  nlohmann::json summary(const Model& model) const;
};

// Uses English word lengths {1,2,3} when the tokenizer has enough words of those lengths,
// otherwise the first window of three consecutive lengths that does (e.g. {2,3,4} for a
// 512-token vocabulary).
std::vector<int> choose_word_lengths(const Tokenizer& tokenizer, const std::string& dictionary, std::uint64_t seed);

// Labels of the control task (Hewitt & Liang): each readout token type gets a fixed random
// label, so a probe can only score by memorising token identities.
std::vector<std::int64_t> control_labels(const WordIndexSplit& split, int n_classes, std::uint64_t seed);

// The original experiment's settings adapted to `model`: BOS for llama2.c models (they are
// trained with it, GPT-2 Small was run without), and word lengths its vocabulary supports.
WordIndexExperimentOptions default_word_index_options(const Model& model);

// Applies named variants ("balanced", "random-tokens", "random-tokens-nospace", "long-words",
// "sentences", "list", "code", "first-token"); throws InputError listing them for an unknown name.
void apply_word_index_variant(WordIndexExperimentOptions& options, const std::string& variant);

WordIndexResults run_word_index_experiment(const Model& model, const WordIndexExperimentOptions& options);

// Writes everything (config, provenance, dataset, probes, metrics, confusion tables) to one
// HDF5 file, atomically; then its report beside it (HTML, and every figure as SVG: the key plot
// as NAME_key_plot.svg, the layer sweep as NAME_layer_sweep.svg). Returns the paths written:
// the HDF5 file, the HTML report, then the figures.
std::vector<std::string> write_word_index_results(const std::string& path, bool overwrite, const Model& model,
                                                  const WordIndexExperimentOptions& options,
                                                  const WordIndexResults& results);

}  // namespace patchbay

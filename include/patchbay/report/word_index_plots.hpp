#pragma once
// Figures of the word-index experiment as standalone SVG documents.
#include <string>
#include <vector>

#include "patchbay/probe/evaluate.hpp"

namespace patchbay {

// The original's key plot: one row per true word index; in each row one stacked bar per
// absolute position showing the distribution of predicted word indices there.
std::string key_plot_svg(const Evaluation& evaluation, int n_classes, const std::string& title);

// What the layer-sweep plot shows (the report reads it from a result file).
struct LayerSweep {
  std::vector<std::string> layers;        // "embed", "0", "1", ...
  std::vector<double> accuracy, control;  // validation accuracy of the probe and of the control task, per layer
  double abs_position = 0, space_count = 0, chance = 0;
};

// Validation accuracy per layer, with the control task, both baselines and chance drawn on it.
std::string layer_sweep_svg(const LayerSweep& sweep, const std::string& title);

}  // namespace patchbay

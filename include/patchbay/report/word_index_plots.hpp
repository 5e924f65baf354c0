#pragma once
// Figures of the word-index experiment as standalone SVG documents.
#include <string>

#include "patchbay/experiments/word_index.hpp"

namespace patchbay {

// The original's key plot: one row per true word index; in each row one stacked bar per
// absolute position showing the distribution of predicted word indices there.
std::string key_plot_svg(const Evaluation& evaluation, int n_classes, const std::string& title);

// Validation accuracy per layer, with the control task, both baselines and chance drawn on it.
std::string layer_sweep_svg(const WordIndexResults& results, const std::string& title);

}  // namespace patchbay

#pragma once
// Accuracy of word-index predictions broken down the way the original experiment plotted it:
// overall, per true index, per absolute position, and the full distribution of predicted
// indices in every (true index, absolute position) cell.
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/data/word_index.hpp"

namespace patchbay {

struct Evaluation {
  double accuracy = 0;
  std::vector<double> per_label;        // [K]; NaN where a label has no points
  std::vector<std::int64_t> positions;  // the distinct absolute positions, ascending: [P]
  std::vector<double> per_position;     // [P]
  at::Tensor cells;                     // [K, P, K] int64 counts: true index, position, predicted index
};

// predicted: [n_points] int64 in the order of split.points.
Evaluation evaluate_predictions(const at::Tensor& predicted, const WordIndexSplit& split, int n_classes);

// A classifier that sees one integer feature: it predicts the most frequent training label for
// each value (ties: the smaller label), and the overall most frequent label for unseen values.
// Returns its predictions on `test_values`.
at::Tensor lookup_classifier(const std::vector<std::int64_t>& train_values, const std::vector<std::int64_t>& train_labels,
                             const std::vector<std::int64_t>& test_values, int n_classes);

}  // namespace patchbay

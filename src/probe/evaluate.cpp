#include "patchbay/probe/evaluate.hpp"

#include <cmath>
#include <limits>
#include <map>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"

namespace patchbay {

Evaluation evaluate_predictions(const at::Tensor& predicted_in, const WordIndexSplit& split, int K) {
  auto predicted = predicted_in.to(at::kCPU, at::kLong).contiguous();
  if (predicted.dim() != 1 || predicted.size(0) != static_cast<std::int64_t>(split.points.size()))
    fail<InputError>("{} predictions for {} points", predicted.numel(), split.points.size());
  Evaluation e;
  std::map<std::int64_t, std::int64_t> position_index;
  for (const auto& pt : split.points) position_index.emplace(pt.position, 0);
  for (auto& [pos, idx] : position_index) {
    idx = static_cast<std::int64_t>(e.positions.size());
    e.positions.push_back(pos);
  }
  const auto P = static_cast<std::int64_t>(e.positions.size());
  e.cells = at::zeros({K, P, K}, at::kLong);
  auto cells = e.cells.accessor<std::int64_t, 3>();
  const auto* pred = predicted.data_ptr<std::int64_t>();
  for (std::size_t i = 0; i < split.points.size(); ++i) {
    const auto& pt = split.points[i];
    if (pred[i] < 0 || pred[i] >= K) fail<InputError>("prediction {} is outside [0, {})", pred[i], K);
    cells[pt.label][position_index[pt.position]][pred[i]] += 1;
  }
  auto correct = e.cells.diagonal(0, 0, 2).t();  // [K, P]: counts where predicted == true
  auto total = e.cells.sum(2);                   // [K, P]
  auto ratio = [](const at::Tensor& num, const at::Tensor& den) {
    auto d = den.item<std::int64_t>();
    return d == 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(num.item<std::int64_t>()) / static_cast<double>(d);
  };
  e.accuracy = ratio(correct.sum(), total.sum());
  for (int k = 0; k < K; ++k) e.per_label.push_back(ratio(correct[k].sum(), total[k].sum()));
  for (std::int64_t p = 0; p < P; ++p) e.per_position.push_back(ratio(correct.select(1, p).sum(), total.select(1, p).sum()));
  return e;
}

at::Tensor lookup_classifier(const std::vector<std::int64_t>& train_values, const std::vector<std::int64_t>& train_labels,
                             const std::vector<std::int64_t>& test_values, int K) {
  std::map<std::int64_t, std::vector<std::int64_t>> counts;
  std::vector<std::int64_t> overall(static_cast<std::size_t>(K), 0);
  for (std::size_t i = 0; i < train_values.size(); ++i) {
    auto& c = counts[train_values[i]];
    if (c.empty()) c.assign(static_cast<std::size_t>(K), 0);
    ++c[static_cast<std::size_t>(train_labels[i])];
    ++overall[static_cast<std::size_t>(train_labels[i])];
  }
  auto argmax = [](const std::vector<std::int64_t>& v) {
    return static_cast<std::int64_t>(std::max_element(v.begin(), v.end()) - v.begin());  // first max: smaller label
  };
  const auto fallback = argmax(overall);
  std::vector<std::int64_t> out;
  for (auto v : test_values) {
    auto it = counts.find(v);
    out.push_back(it == counts.end() ? fallback : argmax(it->second));
  }
  return at::tensor(out, at::kLong);
}

}  // namespace patchbay

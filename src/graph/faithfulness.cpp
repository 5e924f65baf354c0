#include "patchbay/graph/faithfulness.hpp"

#include <algorithm>

#include <ATen/ATen.h>

#include "patchbay/patching/edge_layout.hpp"

namespace patchbay {

std::vector<FaithfulnessPoint> faithfulness_curve(const Model& model, const std::vector<PromptPair>& pairs,
                                                  const Metric& metric, CircuitGraph graph,
                                                  const std::vector<std::size_t>& sizes) {
  at::InferenceMode no_grad;
  const int L = metric.layer();
  const AblationOptions corrupted{.kind = AblationKind::Corrupted};  // outside the circuit: the corrupted run's values
  const double m_clean = ablated_metric(model, pairs, metric, {}, corrupted).mean().item<double>();
  const auto corrupted_out = model.forward(pair_tokens(pairs, 1), ForwardOptions().stop_after(L));
  const double m_corrupted = metric(corrupted_out.select(1, pairs.front().target)).mean().item<double>();
  const auto layout = edge_layout(model.config(), L);
  std::vector<FaithfulnessPoint> curve;
  for (auto k : sizes) {
    graph.keep_top_k(k);
    const auto kept = graph.kept_components();
    std::vector<std::string> outside;  // every head and MLP up to the read-out that the circuit leaves out
    for (const auto& s : layout.senders)
      if (s.layer >= 0 && std::find(kept.begin(), kept.end(), s.name) == kept.end()) outside.push_back(s.name);
    const double m = ablated_metric(model, pairs, metric, outside, corrupted).mean().item<double>();
    curve.push_back({graph.kept_edges(), graph.kept_nodes(), (m - m_corrupted) / (m_clean - m_corrupted)});
  }
  return curve;
}

}  // namespace patchbay

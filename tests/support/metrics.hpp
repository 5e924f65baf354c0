#pragma once
// One of every kind of metric for a model and its pairs, for tests that check a method works
// for all of them: the probe logit difference, the output metrics and a user's callable.
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "patchbay/patching/output_metrics.hpp"
#include "random_pairs.hpp"

namespace patchbay::test {

// `probe_layer`: the block the probe and the custom metric read (output metrics read the last).
inline std::vector<std::unique_ptr<Metric>> every_metric(const Model& model, const std::vector<PromptPair>& pairs, int probe_layer) {
  const auto& c = model.config();
  std::vector<std::unique_ptr<Metric>> out;
  out.push_back(std::make_unique<ProbeLogitDiff>(random_probe(c.d_model, 4, 3), c, probe_layer, 1, 0));
  out.push_back(std::make_unique<LogitDiff>(model, pairs));
  out.push_back(std::make_unique<LogProb>(model, pairs));
  out.push_back(std::make_unique<KlFromClean>(model, pairs));
  // A nonlinear function of the read-out that also depends on the pair.
  out.push_back(std::make_unique<CustomMetric>(
      probe_layer, [](const at::Tensor& resid, const at::Tensor& pair) { return at::tanh(resid.narrow(1, 0, 4)).sum(1) * (pair + 1); },
      "tanh-sum", "sum of tanh of the first four residual dimensions, times pair + 1"));
  return out;
}

}  // namespace patchbay::test

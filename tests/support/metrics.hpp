#pragma once
// One of every kind of metric for a model and its pairs, for tests that check a method works
// for all of them: the probe logit difference, the output metrics and a user's callable.
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "patchbay/patching/output_metrics.hpp"
#include "random_pairs.hpp"

namespace patchbay::test {

// The planted circuits' read-out: a probe after block 1 whose logit difference (class 1 over
// class 0) is residual dimension 0, the dimension their planted head writes.
inline ProbeLogitDiff dimension_zero_metric(const Model& model) {
  LogisticProbe probe;
  probe.W = at::zeros({model.config().d_model, 2});
  probe.W[0][1] = 1.0;
  probe.b = at::zeros({2});
  return ProbeLogitDiff(probe, model.config(), 1, /*to=*/1, /*from=*/0);
}

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

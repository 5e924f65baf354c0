// The parts of the direct attribution add up to the probe's logit difference exactly.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "../support/random_pairs.hpp"
#include "patchbay/analysis/direct.hpp"
#include "patchbay/model/random_model.hpp"

using namespace patchbay;

TEST_CASE("direct attribution parts sum to the metric, heads and neurons included", "[attribution][direct]") {
  auto models = test::both_families(1);
  for (auto& model : models) {
    INFO(to_string(model.config().arch));
    auto probe = test::random_probe(32, 5, 3);
    probe.mean = at::randn({32});  // a standardised probe folds its statistics into direction and offset
    probe.std = at::rand({32}) + 0.5;
    ProbeLogitDiff metric(probe, model.config(), 1, 3, 1);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
    auto tokens = at::randint(61, {3, 9}, gen, at::kLong);
    auto r = direct_attribution(model, tokens, 6, metric);
    auto sum = r.contributions.sum(1) + r.offset;
    CHECK(at::allclose(sum, r.total, 1e-4, 1e-4));
    // The metric is the probe's own logit difference on the residual stream.
    at::InferenceMode no_grad;
    auto resid = model.forward(tokens, ForwardOptions().stop_after(1)).select(1, 6);
    auto logits = probe.logits(resid);
    CHECK(at::allclose(r.total, logits.select(1, 3) - logits.select(1, 1), 1e-4, 1e-4));
    // Each MLP component is its neurons plus its bias.
    for (int l = 0; l <= 1; ++l)
      CHECK(at::allclose(r.contributions.select(1, r.index(mlp_name(l))), r.neurons.select(1, l).sum(1) + r.mlp_bias[l], 1e-5, 1e-5));
    CHECK(r.components.size() == (model.config().arch == Architecture::GPT2 ? 2u : 1u) + 2 * (4 + 2));
  }
}

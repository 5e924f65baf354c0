// Attribution patching and edge attribution: exact where the metric is linear, and receiver
// gradients consistent with autograd's residual-stream gradients.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "../support/random_pairs.hpp"
#include "patchbay/model/random_model.hpp"
#include "patchbay/patching/attribution.hpp"
#include "../support/metrics.hpp"

using namespace patchbay;

namespace {
std::vector<Model> models() { return test::both_families(31); }
}  // namespace

TEST_CASE("attribution patching is exact where the metric is linear in the patch", "[attribution]") {
  for (auto& model : models()) {
    INFO(to_string(model.config().arch));
    auto pairs = test::random_pairs(3, 7, 61, 8);
    ProbeLogitDiff metric(test::random_probe(32, 4, 3), model.config(), 2, 1, 0);
    for (auto sweep : {PatchSweep::mlp_out_by_position(), PatchSweep::attn_out_by_position()}) {
      auto exact = patch_sweep(model, pairs, metric, sweep, PatchDirection::CleanIntoCorrupted);
      auto approx = attribution_patch(model, pairs, metric, sweep, PatchDirection::CleanIntoCorrupted);
      // At the read-out layer the metric is linear in the MLP's output: first order is exact there.
      if (sweep.site == Site::MlpOut) CHECK(at::allclose(approx.metric.select(1, 2), exact.metric.select(1, 2), 1e-4, 1e-4));
      CHECK(at::equal(approx.clean, exact.clean));
      auto corr = correlation(approx.effect(), exact.effect());
      INFO("correlation with exact patching " << corr);
      CHECK(corr > 0.5);
    }
  }
}

TEST_CASE("edge attribution: receiver gradients add up to autograd's residual gradients, for every metric", "[attribution][eap]") {
  for (auto& model : models()) {
    const auto pairs = test::with_answers(test::random_pairs(2, 6, 61, 4), 61, 7);
    for (const auto& metric_ptr : test::every_metric(model, pairs, 2)) {
      const auto& metric = *metric_ptr;
      const auto& c = model.config();
      INFO(to_string(c.arch) << " " << metric.describe());
      auto e = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted);
      const auto S = static_cast<std::int64_t>(e.senders.size()), R = static_cast<std::int64_t>(e.receivers.size());
      CHECK(S == 1 + 3 * 5);
      CHECK(R == 3 * (3 * 4 + 1) + 1);
      CHECK(e.receivers.back() == "readout");

      // Independent check of the per-receiver input gradients: for the "input" sender, the sum of
      // its scores into layer l's q/k/v equals delta . (dm/d resid_pre(l) - dm/d resid_mid(l)), and
      // into m{l} equals delta . (dm/d resid_mid(l) - dm/d resid_post(l)), from autograd directly.
      auto clean = pair_tokens(pairs, 0), corrupted = pair_tokens(pairs, 1);
      at::Tensor delta;
      {
        at::InferenceMode no_grad;
        auto a = model.run_with_cache(clean, filters::only({hook::resid_pre(0)}), ForwardOptions().stop_after(2)).second;
        auto b = model.run_with_cache(corrupted, filters::only({hook::resid_pre(0)}), ForwardOptions().stop_after(2)).second;
        delta = a.at(hook::resid_pre(0)) - b.at(hook::resid_pre(0));
      }
      c10::AutoGradMode grad(true);
      std::map<HookId, at::Tensor> zeros;
      std::vector<HookHandle> handles;
      for (int l = 0; l <= 2; ++l)
        for (HookId id : {hook::resid_pre(l), hook::resid_mid(l), hook::resid_post(l)})
          handles.push_back(model.add_hook(id, [&](at::Tensor& act, HookId at) {
            zeros[at] = at::zeros_like(act).requires_grad_(true);
            act = act + zeros[at];
          }));
      auto out = model.forward(corrupted, ForwardOptions().stop_after(2));
      metric(out.select(1, 5)).sum().backward();
      auto dot = [&](HookId id) { return (delta * zeros[id].grad()).sum().item<double>() / 2; };
      for (int l = 0; l <= 2; ++l) {
        INFO("layer " << l);
        double heads = 0;
        for (std::int64_t r = 0; r < R; ++r)
          if (e.receivers[r].rfind(fmt::format("a{}.", l), 0) == 0) heads += e.scores[0][r].item<double>();
        CHECK(heads == Approx(dot(hook::resid_pre(l)) - dot(hook::resid_mid(l))).margin(1e-4).epsilon(1e-3));
        auto m = std::find(e.receivers.begin(), e.receivers.end(), fmt::format("m{}", l)) - e.receivers.begin();
        CHECK(e.scores[0][m].item<double>() == Approx(dot(hook::resid_mid(l)) - dot(hook::resid_post(l))).margin(1e-4).epsilon(1e-3));
      }
      CHECK(e.scores[0][R - 1].item<double>() == Approx(dot(hook::resid_post(2))).margin(1e-4).epsilon(1e-3));
      // No edge runs backwards.
      auto later = std::find(e.senders.begin(), e.senders.end(), "a2.h0") - e.senders.begin();
      auto earlier = std::find(e.receivers.begin(), e.receivers.end(), "a1.h0<q>") - e.receivers.begin();
      CHECK_FALSE(e.valid[later][earlier].item<bool>());
      CHECK(e.scores[later][earlier].item<float>() == 0.0f);

      auto ig = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, 4);
      CHECK(ig.method == "eap-ig");
      CHECK(correlation(ig.scores, e.scores) > 0.5);
    }
  }
}

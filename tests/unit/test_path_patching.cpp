// Path patching: exact where the receiver is linear (the read-out), consistent with EAP to first
// order, and it finds the planted path.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include <algorithm>

#include "../support/random_pairs.hpp"
#include "patchbay/model/random_model.hpp"
#include "patchbay/patching/path.hpp"

using namespace patchbay;

TEST_CASE("path patching agrees with edge attribution where it must and correlates elsewhere", "[patching][path]") {
  auto models = test::both_families(41);
  for (auto& model : models) {
    INFO(to_string(model.config().arch));
    auto pairs = test::random_pairs(3, 6, 61, 6);
    ProbeLogitDiff metric(test::random_probe(32, 4, 3), model.config(), 2, 1, 0);
    PathPatchOptions small;
    small.max_batch = 7;  // exercises chunking
    auto path = path_patch(model, pairs, metric, PatchDirection::CleanIntoCorrupted, small);
    auto eap = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted);
    REQUIRE(path.senders == eap.senders);
    REQUIRE(path.receivers == eap.receivers);
    CHECK(at::equal(path.valid, eap.valid));
    // Into the read-out both are the sender difference projected on the probe direction.
    CHECK(at::allclose(path.scores.select(1, -1), eap.scores.select(1, -1).to(at::kFloat), 1e-4, 1e-5));
    auto mask = path.valid;
    auto corr = correlation(path.scores.masked_select(mask), eap.scores.to(at::kFloat).masked_select(mask));
    INFO("EAP vs path patching correlation " << corr);
    CHECK(corr > 0.5);
  }
}

TEST_CASE("a path-patched key edge equals patching that head's hook_k_input as TransformerLens code does", "[patching][path]") {
  at::InferenceMode no_grad;
  for (auto& model : test::both_families(43)) {  // the Llama model has grouped-query attention
    INFO(to_string(model.config().arch));
    auto pairs = test::random_pairs(3, 6, 61, 7);
    const ProbeLogitDiff metric(test::random_probe(32, 4, 5), model.config(), 2, 1, 0);
    const auto path = path_patch(model, pairs, metric, PatchDirection::CleanIntoCorrupted);
    const auto receiver = std::find(path.receivers.begin(), path.receivers.end(), "a2.h1<k>") - path.receivers.begin();
    // The layer-0 or layer-1 head with the largest edge into it.
    int sender_layer = 0, sender_head = 0;
    std::int64_t sender = 0;
    for (int l = 0; l < 2; ++l)
      for (int h = 0; h < 4; ++h) {
        const auto s = std::find(path.senders.begin(), path.senders.end(), fmt::format("a{}.h{}", l, h)) - path.senders.begin();
        if (std::abs(path.scores[s][receiver].item<double>()) > std::abs(path.scores[sender][receiver].item<double>()) || sender == 0)
          sender = s, sender_layer = l, sender_head = h;
      }

    // By hand: the corrupted run receives; the sender's output difference (clean - corrupted) is added
    // to the residual stream that query head 1's key input reads at layer 2, nothing else.
    const auto clean = pair_tokens(pairs, 0), corrupted = pair_tokens(pairs, 1);
    const auto T = pairs.front().target;
    const std::vector<HookId> wanted{{Site::Result, sender_layer}, hook::resid_pre(2)};
    auto [recv_out, recv] = model.run_with_cache(corrupted, filters::only(wanted), ForwardOptions().stop_after(2));
    auto src = model.run_with_cache(clean, filters::only(wanted), ForwardOptions().stop_after(2)).second;
    const auto delta = (src.at({Site::Result, sender_layer}) - recv.at({Site::Result, sender_layer})).select(2, sender_head);  // [pair, pos, d_model]
    const auto input = recv.at(hook::resid_pre(2)) + delta;
    auto patch = model.add_hook(hook::k_input(2), [&](at::Tensor& x, HookId) { x.select(2, 1).copy_(input); });
    const auto patched = model.forward(corrupted, ForwardOptions().stop_after(2).ungroup_kv());
    const double expected = (metric(patched.select(1, T)) - metric(recv_out.select(1, T))).mean().item<double>();
    CHECK(path.scores[sender][receiver].item<double>() == Approx(expected).margin(1e-6));
    CHECK(std::abs(expected) > 1e-6);  // the edge carries something: the comparison is not 0 == 0
  }
}

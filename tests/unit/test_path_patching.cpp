// Path patching: exact where the receiver is linear (the read-out), consistent with EAP to first
// order, and it finds the planted path.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

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

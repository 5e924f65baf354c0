// Activation patching: the fast path equals the naive loop; patches that cannot matter are
// exactly zero; a full patch reproduces the source run.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "../support/random_pairs.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/model/random_model.hpp"
#include "patchbay/patching/ablation.hpp"
#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/patching/patch.hpp"

using namespace patchbay;

namespace {
std::vector<Model> models() { return test::both_families(21); }
}  // namespace

TEST_CASE("fast patching equals the naive loop for every sweep and both directions", "[patching]") {
  const std::vector<PatchSweep> sweeps = {
      PatchSweep::resid_pre_by_position(), PatchSweep::attn_out_by_position(), PatchSweep::mlp_out_by_position(),
      PatchSweep::heads(),                 PatchSweep::heads_by_position(),    PatchSweep::head_site(Site::Q),
      PatchSweep::head_site(Site::K),      PatchSweep::head_site(Site::V),     PatchSweep::head_site(Site::Pattern),
      {Site::ResidMid, false, true},       {Site::MlpPost, false, true}};
  for (auto& model : models()) {
    const auto& c = model.config();
    auto pairs = test::random_pairs(3, 7, c.d_vocab, 5);
    ProbeLogitDiff metric(test::random_probe(c.d_model, 4, 9), c, /*layer=*/1, /*to=*/1, /*from=*/2);
    for (const auto& sweep : sweeps)
      for (auto direction : {PatchDirection::CleanIntoCorrupted, PatchDirection::CorruptedIntoClean}) {
        INFO(to_string(c.arch) << " " << sweep.describe() << " " << to_string(direction));
        PatchOptions small_batches;
        small_batches.max_batch = 5;  // exercises chunking over pairs
        auto fast = patch_sweep(model, pairs, metric, sweep, direction, small_batches);
        auto naive = patch_sweep_naive(model, pairs, metric, sweep, direction);
        REQUIRE(fast.metric.sizes() == naive.metric.sizes());
        CHECK(fast.axes == naive.axes);
        CHECK((fast.metric - naive.metric).abs().max().item<float>() <= 1e-5f);
        CHECK(at::allclose(fast.clean, naive.clean, 0, 1e-5));

        // Layers after the read-out are exactly zero, in the naive loop too (nothing skipped there).
        auto receiving = direction == PatchDirection::CleanIntoCorrupted ? naive.corrupted : naive.clean;
        auto after = naive.metric.select(1, 2).reshape({3, -1});
        CHECK(at::equal(after, receiving.unsqueeze(1).expand_as(after)));
        // (patched - corrupted) / (clean - corrupted): a no-op is 0 when denoising, 1 when noising.
        auto no_op = fast.effect().select(0, 2);
        if (direction == PatchDirection::CleanIntoCorrupted) CHECK(at::equal(no_op, at::zeros_like(no_op)));
        else CHECK(at::allclose(no_op, at::ones_like(no_op), 0, 1e-6));
      }
  }
}

TEST_CASE("position-local patches away from the target at the read-out layer are exactly zero", "[patching]") {
  auto model = random_model(gpt2_like_config(2, 32, 4, 61, 16), 3);
  auto pairs = test::random_pairs(2, 6, 61, 1);
  ProbeLogitDiff metric(test::random_probe(32, 3, 2), model.config(), 1, 0, 1);
  auto naive = patch_sweep_naive(model, pairs, metric, PatchSweep::heads_by_position(), PatchDirection::CleanIntoCorrupted);
  auto at_readout = naive.metric.select(1, 1);  // [pair, head, position]
  auto untouched = naive.corrupted.view({2, 1, 1}).expand({2, 4, 5});
  CHECK(at::equal(at_readout.narrow(2, 0, 5), untouched));
  CHECK_FALSE(at::equal(at_readout.select(2, 5), naive.corrupted.view({2, 1}).expand({2, 4})));
}

TEST_CASE("patches where a pair's prompts still agree are exactly zero", "[patching]") {
  for (auto& model : models()) {
    const auto& c = model.config();
    // Two pairs agree on their first 3 tokens, one on its first 5: positions 0-2 are not run at
    // all, positions 3-4 are run for the first pairs and reset for the last.
    auto pairs = test::random_pairs(2, 8, c.d_vocab, 6, /*first_difference=*/3);
    pairs.push_back(test::random_pairs(1, 8, c.d_vocab, 7, /*first_difference=*/5).front());
    ProbeLogitDiff metric(test::random_probe(c.d_model, 4, 9), c, /*layer=*/2, /*to=*/1, /*from=*/2);
    for (const auto& sweep : {PatchSweep::resid_pre_by_position(), PatchSweep::heads_by_position()}) {
      INFO(to_string(c.arch) << " " << sweep.describe());
      auto fast = patch_sweep(model, pairs, metric, sweep, PatchDirection::CleanIntoCorrupted);
      auto naive = patch_sweep_naive(model, pairs, metric, sweep, PatchDirection::CleanIntoCorrupted);
      CHECK((fast.metric - naive.metric).abs().max().item<float>() <= 1e-5f);
      for (std::int64_t i = 0; i < 3; ++i) {
        const std::int64_t agree = i < 2 ? 3 : 5;
        auto before = fast.metric[i].narrow(-1, 0, agree);  // [layer, (head), position]
        CHECK(at::equal(before, fast.corrupted[i].expand_as(before)));
        auto at_first_difference = fast.metric[i].select(-1, agree).select(0, 0);  // layer 0: the token differs here
        CHECK_FALSE(at::equal(at_first_difference, fast.corrupted[i].expand_as(at_first_difference)));
      }
    }
  }
}

TEST_CASE("patching the whole residual stream reproduces the source run", "[patching]") {
  for (auto& model : models()) {
    auto pairs = test::random_pairs(2, 6, model.config().d_vocab, 4);
    ProbeLogitDiff metric(test::random_probe(32, 3, 2), model.config(), 2, 0, 1);
    auto r = patch_sweep(model, pairs, metric, {Site::ResidPre, false, false}, PatchDirection::CleanIntoCorrupted);
    for (int l = 0; l <= 2; ++l) CHECK(at::allclose(r.metric.select(1, l), r.clean, 1e-5, 1e-5));
    CHECK(at::allclose(r.effect(), at::ones({3}), 1e-4, 1e-4));
  }
}

TEST_CASE("patching refuses what it cannot do", "[patching][errors]") {
  auto model = random_model(gpt2_like_config(2, 32, 4, 61, 16), 3);
  auto pairs = test::random_pairs(2, 6, 61, 1);
  ProbeLogitDiff metric(test::random_probe(32, 3, 2), model.config(), 1, 0, 1);
  CHECK_THROWS_WITH(patch_sweep(model, pairs, metric, {Site::MlpOut, true, false}, PatchDirection::CleanIntoCorrupted),
                    Catch::Contains("has no head axis"));
  CHECK_THROWS_WITH(patch_sweep(model, pairs, metric, {Site::RotQ, true, false}, PatchDirection::CleanIntoCorrupted),
                    Catch::Contains("not a block hook point of this model"));
  auto uneven = pairs;
  uneven[1].corrupted.tokens.push_back(3);
  CHECK_THROWS_WITH(patch_sweep(model, uneven, metric, PatchSweep::heads(), PatchDirection::CleanIntoCorrupted),
                    Catch::Contains("unequal length"));
  CHECK_THROWS_WITH(ProbeLogitDiff(test::random_probe(16, 3, 2), model.config(), 1, 0, 1),
                    Catch::Contains("probe reads 16 features but random-gpt2 has d_model = 32"));
  CHECK_THROWS_WITH(ProbeLogitDiff(test::random_probe(32, 3, 2), model.config(), 1, 0, 5),
                    Catch::Contains("out of range (the probe has 3 classes)"));
}

TEST_CASE("ablating every neuron of an MLP is ablating the MLP; one neuron is addressed by m{layer}.n{neuron}", "[patching][ablation]") {
  for (auto& model : models()) {
    const auto& c = model.config();
    INFO(to_string(c.arch));
    auto pairs = test::random_pairs(3, 7, c.d_vocab, 5);
    ProbeLogitDiff metric(test::random_probe(c.d_model, 4, 9), c, /*layer=*/1, /*to=*/1, /*from=*/2);
    // The MLP's output is a function of its hook_post alone, so taking every neuron from the
    // corrupted run gives exactly the corrupted run's MLP output.
    std::vector<std::string> neurons;
    for (std::int64_t n = 0; n < c.d_mlp; ++n) neurons.push_back(neuron_name(0, n));
    const AblationOptions corrupted{.kind = AblationKind::Corrupted};
    const auto all_neurons = ablated_metric(model, pairs, metric, neurons, corrupted);
    const auto whole_mlp = ablated_metric(model, pairs, metric, {"m0"}, corrupted);
    CHECK(at::allclose(all_neurons, whole_mlp, 1e-5, 1e-5));
    const auto none = ablated_metric(model, pairs, metric, {}, corrupted);
    CHECK_FALSE(at::allclose(whole_mlp, none, 1e-5, 1e-5));
    // One neuron changes the metric by a part of that, and neurons after the read-out are refused.
    const auto one = ablated_metric(model, pairs, metric, {neuron_name(0, 3)}, corrupted);
    CHECK_FALSE(at::equal(one, none));
    CHECK_THROWS_WITH(ablated_metric(model, pairs, metric, {neuron_name(0, c.d_mlp)}, corrupted),
                      Catch::Contains("unknown component 'm0.n" + std::to_string(c.d_mlp) + "'") && Catch::Contains("neuron 0.."));
    CHECK_THROWS_WITH(ablated_metric(model, pairs, metric, {"m2.n0"}, corrupted), Catch::Contains("layer 0..1"));
  }
}

// Every method takes every metric: fast patching equals the naive loop, patches that cannot
// reach the read-out are exactly zero, path patching's read-out edges equal a hooked run, the
// faithfulness of the whole graph is 1; KL is 0 on the clean run; output metrics equal what the
// logits say; the separation check flags metrics that do not tell clean from corrupted.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "../support/metrics.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/patching/path.hpp"

using namespace patchbay;

namespace {
std::vector<Model> models() { return test::both_families(41); }
std::vector<PromptPair> answered_pairs(std::int64_t vocab) { return test::with_answers(test::random_pairs(3, 7, vocab, 5), vocab, 6); }
}  // namespace

TEST_CASE("for every metric, fast patching equals the naive loop and unreachable patches are exactly zero", "[metrics][patching]") {
  const std::vector<PatchSweep> sweeps = {PatchSweep::resid_pre_by_position(), PatchSweep::mlp_out_by_position(), PatchSweep::heads(),
                                          PatchSweep::heads_by_position(), PatchSweep::head_site(Site::K)};
  for (auto& model : models()) {
    const auto pairs = answered_pairs(model.config().d_vocab);
    for (const auto& metric : test::every_metric(model, pairs, 1)) {
      for (const auto& sweep : sweeps)
        for (auto direction : {PatchDirection::CleanIntoCorrupted, PatchDirection::CorruptedIntoClean}) {
          INFO(to_string(model.config().arch) << " " << metric->name() << " " << sweep.describe() << " " << to_string(direction));
          auto fast = patch_sweep(model, pairs, *metric, sweep, direction, PatchOptions{.max_batch = 5});
          auto naive = patch_sweep_naive(model, pairs, *metric, sweep, direction);
          REQUIRE(fast.metric.sizes() == naive.metric.sizes());
          CHECK((fast.metric - naive.metric).abs().max().item<float>() <= 1e-5f * std::max(1.0f, naive.metric.abs().max().item<float>()));
          // Layers after the read-out cannot reach it: exactly the receiving run's metric.
          const auto receiving = direction == PatchDirection::CleanIntoCorrupted ? fast.corrupted : fast.clean;
          for (int l = metric->layer() + 1; l < model.config().n_layers; ++l) {
            auto after = fast.metric.select(1, l).reshape({3, -1});
            CHECK(at::equal(after, receiving.unsqueeze(1).expand_as(after)));
          }
          // A position-local site at the read-out layer reaches the target only at the target.
          if (sweep.per_position && sweep.site == Site::MlpOut) {
            auto at_readout = fast.metric.select(1, metric->layer()).narrow(-1, 0, 6);  // [pair, position < target]
            CHECK(at::equal(at_readout, receiving.unsqueeze(1).expand_as(at_readout)));
          }
        }
    }
  }
}

TEST_CASE("output metrics are what the logits say, and KL from the clean run is exactly 0 on it", "[metrics]") {
  for (auto& model : models()) {
    const auto pairs = answered_pairs(model.config().d_vocab);
    const int last = model.config().n_layers - 1;
    const auto clean = clean_readout(model, pairs, last);  // [pair, d_model]
    at::Tensor logits;
    {
      at::InferenceMode no_grad;
      logits = model.forward(pair_tokens(pairs, 0)).select(1, pairs.front().target);  // the full forward pass
    }
    CHECK(at::allclose(model.unembed(clean), logits, 1e-5, 1e-5));
    const LogitDiff diff(model, pairs);
    const LogProb logprob(model, pairs);
    const KlFromClean kl(model, pairs);
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const auto row = logits[static_cast<std::int64_t>(i)];
      CHECK(diff(clean)[i].item<float>() == Approx((row[pairs[i].correct] - row[pairs[i].incorrect]).item<float>()).margin(1e-4));
      CHECK(logprob(clean)[i].item<float>() == Approx(at::log_softmax(row, 0)[pairs[i].correct].item<float>()).margin(1e-4));
    }
    CHECK(at::equal(kl(clean), at::zeros({3})));
    CHECK(kl.clean_sign() == -1);
    const auto corrupted_kl = patch_sweep(model, pairs, kl, PatchSweep::heads(), PatchDirection::CleanIntoCorrupted).corrupted;
    CHECK((corrupted_kl > 0).all().item<bool>());
    // Answers outside the vocabulary are refused, naming the pair.
    auto bad = pairs;
    bad[1].incorrect = model.config().d_vocab;
    CHECK_THROWS_WITH(LogitDiff(model, bad), Catch::Contains("pair 1 has incorrect answer token"));
  }
}

TEST_CASE("path patching into the read-out equals a run with the sender's difference added there, for every metric", "[metrics][path]") {
  for (auto& model : models()) {
    const auto pairs = answered_pairs(model.config().d_vocab);
    for (const auto& metric : test::every_metric(model, pairs, 2)) {
      INFO(to_string(model.config().arch) << " " << metric->name());
      const auto e = path_patch(model, pairs, *metric, PatchDirection::CleanIntoCorrupted);
      // The input sender: clean minus corrupted embeddings, added to the corrupted run's read-out at the target.
      const int L = metric->layer();
      const auto T = pairs.front().target;
      at::Tensor delta, expected;
      {
        at::InferenceMode no_grad;
        auto cached = [&](int which) {
          return model.run_with_cache(pair_tokens(pairs, which), filters::only({hook::resid_pre(0)}), ForwardOptions().stop_after(L)).second.at(hook::resid_pre(0));
        };
        delta = cached(0) - cached(1);
        at::Tensor shifted;
        {
          auto add = model.add_hook(hook::resid_post(L), [&](at::Tensor& act, HookId) {
            act = act.clone();
            act.select(1, T).add_(delta.select(1, T));
          });
          shifted = (*metric)(model.forward(pair_tokens(pairs, 1), ForwardOptions().stop_after(L)).select(1, T));
        }
        const auto base = (*metric)(model.forward(pair_tokens(pairs, 1), ForwardOptions().stop_after(L)).select(1, T));
        expected = (shifted - base).mean();
      }
      CHECK(e.scores[0][e.scores.size(1) - 1].item<double>() == Approx(expected.item<double>()).margin(1e-4).epsilon(1e-4));
    }
  }
}

TEST_CASE("the whole graph is fully faithful and ablating nothing is the clean run, for every metric", "[metrics][circuit]") {
  for (auto& model : models()) {
    const auto pairs = answered_pairs(model.config().d_vocab);
    for (const auto& metric : test::every_metric(model, pairs, 2)) {
      INFO(to_string(model.config().arch) << " " << metric->name());
      const auto edges = edge_attribution(model, pairs, *metric, PatchDirection::CleanIntoCorrupted);
      auto graph = CircuitGraph::from_edge_scores(edges, GraphInfo{.method = edges.method, .n_heads = 4, .d_model = 32});
      const auto f = faithfulness(model, pairs, *metric, graph, {.ablations = {parse_circuit_ablation("mean", 0)}, .fractions = {1.0}});
      CHECK(f.points.back().value[0] == 1.0);
      const auto none = ablated_metric(model, pairs, *metric, {}, AblationOptions{.kind = AblationKind::Zero});
      const auto clean = (*metric)(clean_readout(model, pairs, metric->layer()));
      CHECK(at::allclose(none, clean, 1e-5, 1e-5));
    }
  }
}

TEST_CASE("the separation check flags clean - corrupted differences of the wrong sign or within the noise", "[metrics]") {
  auto model = random_model(gpt2_like_config(2, 32, 4, 61, 16), 1);
  const ProbeLogitDiff probe(test::random_probe(32, 3, 2), model.config(), 1, 0, 1);
  const auto pairs = answered_pairs(61);
  const KlFromClean kl(model, pairs);
  auto t = [](std::vector<float> v) { return at::tensor(v, at::kFloat); };
  CHECK(metric_separation(probe, t({2.0f, 2.1f, 1.9f}), t({0.0f, 0.1f, -0.1f})).separated);
  const auto reversed = metric_separation(probe, t({0.9f, 1.0f, 0.95f}), t({1.2f, 1.3f, 1.25f}));
  CHECK_FALSE(reversed.separated);
  CHECK_THAT(reversed.warning, Catch::Contains("not higher on clean prompts"));
  const auto noisy = metric_separation(probe, t({1.0f, -0.8f, 1.1f, -0.9f}), t({0.0f, 0.0f, 0.0f, 0.0f}));
  CHECK_FALSE(noisy.separated);
  CHECK_THAT(noisy.warning, Catch::Contains("within twice its standard error"));
  // KL is lower on clean prompts by construction: that is the right way round for it.
  CHECK(metric_separation(kl, t({0.0f, 0.0f, 0.0f}), t({0.5f, 0.6f, 0.4f})).separated);
  CHECK_THAT(metric_separation(kl, t({0.5f, 0.6f, 0.4f}), t({0.0f, 0.0f, 0.0f})).warning, Catch::Contains("not lower on clean prompts"));
}

// Patching, attribution, ablation and direct attribution take pairs a chunk at a time within
// the pass memory budget; the results must not depend on how the pairs were chunked.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "patchbay/analysis/direct.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/patching/ablation.hpp"
#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/circuit_metric.hpp"
#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/patching/path.hpp"
#include "patchbay/patching/patch.hpp"
#include "patchbay/patching/spans.hpp"
#include "../support/metrics.hpp"
#include "../support/random_pairs.hpp"

using namespace patchbay;

namespace {

// Every chunked stage's result for one metric, flattened to a list of tensors.
std::vector<at::Tensor> every_stage(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric) {
  const auto direction = PatchDirection::CleanIntoCorrupted;
  std::vector<at::Tensor> out;
  for (const auto& sweep : {PatchSweep::heads_by_position(), PatchSweep::resid_pre_by_position()}) {
    const auto p = patch_sweep(model, pairs, metric, sweep, direction);
    out.insert(out.end(), {p.metric, p.clean, p.corrupted});
  }
  out.push_back(attribution_patch(model, pairs, metric, PatchSweep::heads_by_position(), direction).metric);
  out.push_back(edge_attribution(model, pairs, metric, direction).scores);
  out.push_back(edge_attribution(model, pairs, metric, direction, 3).scores);
  out.push_back(path_patch(model, pairs, metric, direction).scores);
  out.push_back(path_patch(model, pairs, metric, direction, {.spans = position_spans(pairs)}).scores);
  const auto layout = edge_layout(model.config(), metric.layer());
  const auto half = layout.valid() & at::arange(layout.valid().numel()).view(layout.valid().sizes()).remainder(2).eq(0);
  const std::vector<AblationOptions> ablations{{.kind = AblationKind::Mean},
                                              {.kind = AblationKind::Mean, .per_position = true},
                                              {.kind = AblationKind::Resample, .seed = 5},
                                              {.kind = AblationKind::Corrupted}};
  for (const auto& ablation : ablations) {
    const auto sweep = ablation_sweep(model, pairs, metric, ablation);
    out.insert(out.end(), {sweep.metric, sweep.clean, sweep.corrupted});
    out.push_back(ablated_metric(model, pairs, metric, {"a1.h2", "m0.n3"}, ablation));
    out.push_back(circuit_metric(model, pairs, metric, half, ablation));
  }
  return out;
}

struct PassBudget {
  std::int64_t before = pass_memory_budget_bytes();
  explicit PassBudget(std::int64_t bytes) { set_pass_memory_budget_bytes(bytes); }
  ~PassBudget() { set_pass_memory_budget_bytes(before); }
};

}  // namespace

TEST_CASE("every stage gives the same results one pair at a time as with all pairs together, for every metric", "[patching][chunks]") {
  for (auto& model : test::both_families(47)) {
    const auto pairs = test::with_answers(test::random_pairs(5, 6, model.config().d_vocab, 9, 2), model.config().d_vocab, 10);
    const auto metrics = test::every_metric(model, pairs, 1);
    for (std::size_t m = 0; m < metrics.size(); ++m) {
      INFO(to_string(model.config().arch) << " " << metrics[m]->name());
      const auto together = every_stage(model, pairs, *metrics[m]);
      std::vector<at::Tensor> one_by_one;
      {
        const PassBudget tiny(1);  // every chunk a single pair; KL's clean run is chunked too
        const auto chunked_metrics = test::every_metric(model, pairs, 1);
        one_by_one = every_stage(model, pairs, *chunked_metrics[m]);
      }
      REQUIRE(together.size() == one_by_one.size());
      for (std::size_t i = 0; i < together.size(); ++i) {
        INFO("result " << i);
        CHECK(together[i].sizes() == one_by_one[i].sizes());
        CHECK(at::allclose(together[i].to(at::kDouble), one_by_one[i].to(at::kDouble), 1e-4, 1e-5));
      }
    }
  }
  // Direct attribution reads a probe.
  auto model = std::move(test::both_families(48).front());
  const auto pairs = test::random_pairs(5, 6, model.config().d_vocab, 11);
  const ProbeLogitDiff probe(test::random_probe(model.config().d_model, 4, 3), model.config(), 1, 1, 0);
  const auto together = direct_attribution(model, pair_tokens(pairs, 0), pairs.front().target, probe);
  const PassBudget tiny(1);
  const auto one_by_one = direct_attribution(model, pair_tokens(pairs, 0), pairs.front().target, probe);
  CHECK(at::allclose(together.contributions, one_by_one.contributions, 1e-5, 1e-6));
  CHECK(at::allclose(together.neurons, one_by_one.neurons, 1e-5, 1e-6));
  CHECK(at::allclose(together.total, one_by_one.total, 1e-5, 1e-6));
}

TEST_CASE("a run whose memory would exceed what the machine has is refused before it starts, naming the figures", "[runtime][errors]") {
  REQUIRE(available_memory_bytes().has_value());
  CHECK_NOTHROW(require_available_memory(1024.0, "a kibibyte", "never"));
  try {
    require_available_memory(1e18, "the results of 10^12 pairs", "use fewer pairs");
    FAIL("an exabyte was accepted");
  } catch (const InputError& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("the results of 10^12 pairs need at least 931322574.6 GiB, more than the"));
    CHECK_THAT(message, Catch::Contains("GiB available; use fewer pairs"));
  }
  CHECK_THROWS_AS(set_pass_memory_budget_bytes(0), InputError);
}

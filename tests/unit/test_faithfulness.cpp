// Circuit evaluation as MIB defines it: the metric with every edge outside a circuit ablated
// (circuit_metric), checked against independent computations (the corrupted run, component
// ablation, path patching), and faithfulness curves with their areas.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include "patchbay/core/warnings.hpp"
#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/circuit_metric.hpp"
#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/patching/path.hpp"
#include "patchbay/patching/output_metrics.hpp"
#include "../support/cli.hpp"
#include "../support/metrics.hpp"
#include "../support/random_pairs.hpp"

using namespace patchbay;

namespace {
std::vector<PromptPair> pairs_for(const Model& model) { return test::with_answers(test::random_pairs(4, 6, model.config().d_vocab, 21), model.config().d_vocab, 22); }

double mean_of(const at::Tensor& t) { return t.mean().item<double>(); }

// Every valid edge kept except those out of sender s.
at::Tensor all_but_sender(const EdgeLayout& layout, std::int64_t s) {
  auto kept = layout.valid().clone();
  kept[s].fill_(false);
  return kept;
}
}  // namespace

TEST_CASE("CPR and CMD are the trapezoid areas MIB defines", "[faithfulness]") {
  // Hand-computed: widths 0.009, 0.09, 0.9.
  // CPR = 0.009 * (0 + 0.5) / 2 + 0.09 * (0.5 + 0.8) / 2 + 0.9 * (0.8 + 1) / 2 = 0.00225 + 0.0585 + 0.81
  // CMD = 0.009 * (1 + 0.5) / 2 + 0.09 * (0.5 + 0.2) / 2 + 0.9 * (0.2 + 0) / 2 = 0.00675 + 0.0315 + 0.09
  const auto a = curve_areas({0.001, 0.01, 0.1, 1.0}, {0.0, 0.5, 0.8, 1.0});
  CHECK(a.cpr == Approx(0.87075).epsilon(1e-12));
  CHECK(a.cmd == Approx(0.12825).epsilon(1e-12));
  // Overshooting 1 counts against CMD as much as falling short.
  const auto over = curve_areas({0.5, 1.0}, {1.5, 1.0});
  CHECK(over.cpr == Approx(0.625));
  CHECK(over.cmd == Approx(0.125));
  // On MIB's fractions a curve that is 1 everywhere has CPR 0.999 and CMD 0.
  const auto ones = curve_areas(mib_edge_fractions(), std::vector<double>(mib_edge_fractions().size(), 1.0));
  CHECK(ones.cpr == Approx(0.999));
  CHECK(ones.cmd == 0.0);
  CHECK_THROWS_WITH(curve_areas({0.1, 0.01}, {0, 1}), Catch::Contains("ascending"));
  CHECK_THROWS_WITH(curve_areas({0.1}, {0}), Catch::Contains("at least two"));
  CHECK_THROWS_WITH(parse_circuit_ablation("mean_pos", 0), Catch::Contains("expected zero, mean, mean-positional, resample or corrupted"));
}

TEST_CASE("ablating every edge from the corrupted run is the corrupted run; keeping every edge is the clean run", "[faithfulness]") {
  for (auto& model : test::both_families(71)) {
    const auto pairs = pairs_for(model);
    for (const auto& metric : test::every_metric(model, pairs, 1)) {
      INFO(to_string(model.config().arch) << " " << metric->name());
      const auto layout = edge_layout(model.config(), metric->layer());
      const auto clean = (*metric)(clean_readout(model, pairs, metric->layer()));
      const auto all = circuit_metric(model, pairs, *metric, layout.valid(), {.kind = AblationKind::Zero});
      CHECK(at::equal(all, clean));
      const auto none = circuit_metric(model, pairs, *metric, at::zeros_like(layout.valid()), {.kind = AblationKind::Corrupted},
                                       {.max_batch = 3});  // two batches
      const auto corrupted = (*metric)(model.forward(pair_tokens(pairs, 1), ForwardOptions().stop_after(metric->layer())).select(1, pairs.front().target));
      CHECK(at::allclose(none, corrupted, 1e-4, 1e-4));
    }
  }
}

TEST_CASE("ablating every edge out of one component equals ablating the component, for every ablation", "[faithfulness]") {
  for (auto& model : test::both_families(73)) {
    const auto pairs = pairs_for(model);
    const auto metric = LogitDiff(model, pairs);
    const auto layout = edge_layout(model.config(), metric.layer());
    for (const auto& ablation : circuit_ablations(5)) {
      for (const std::string name : {"a0.h1", "a1.h3", "m0", "m2", "a2.h0"}) {
        INFO(to_string(model.config().arch) << " " << ablation.name << " " << name);
        std::int64_t index = 0;
        while (layout.senders[static_cast<std::size_t>(index)].name != name) ++index;
        const auto by_edges = circuit_metric(model, pairs, metric, all_but_sender(layout, index), ablation.options);
        const auto by_component = ablated_metric(model, pairs, metric, {name}, ablation.options);
        CHECK(at::allclose(by_edges, by_component, 1e-4, 1e-4));
      }
    }
  }
}

TEST_CASE("ablating one edge from the corrupted run changes the metric by that edge's path-patching effect", "[faithfulness]") {
  for (auto& model : test::both_families(75)) {
    const auto pairs = pairs_for(model);
    for (const auto& metric : test::every_metric(model, pairs, 2)) {
      INFO(to_string(model.config().arch) << " " << metric->name());
      const auto layout = edge_layout(model.config(), metric->layer());
      // Path patching from the corrupted prompt into the clean run, one edge at a time.
      const auto path = path_patch(model, pairs, *metric, PatchDirection::CorruptedIntoClean);
      const double clean = mean_of((*metric)(clean_readout(model, pairs, metric->layer())));
      const auto valid = layout.valid();
      int checked = 0;
      for (const auto& [sender, receiver] : {std::pair{"input", "a0.h2<q>"}, {"input", "a1.h1<k>"}, {"a0.h3", "a1.h0<v>"}, {"m0", "a2.h3<k>"},
                                            {"a1.h2", "m1"}, {"input", "m0"}, {"a0.h0", "readout"}, {"m1", "readout"}, {"a1.h0", "a2.h1<q>"}}) {
        std::int64_t s = 0, r = 0;
        while (layout.senders[static_cast<std::size_t>(s)].name != sender) ++s;
        while (layout.receivers[static_cast<std::size_t>(r)].name != receiver) ++r;
        REQUIRE(valid[s][r].item<bool>());
        auto kept = valid.clone();
        kept[s][r] = false;
        const double change = mean_of(circuit_metric(model, pairs, *metric, kept, {.kind = AblationKind::Corrupted})) - clean;
        INFO(sender << " -> " << receiver);
        CHECK(change == Approx(path.scores[s][r].item<double>()).margin(2e-5).epsilon(1e-3));
        ++checked;
      }
      CHECK(checked == 9);
    }
  }
}

TEST_CASE("faithfulness is exactly 1 for the whole graph and 0 for the empty one under every ablation, and round-trips", "[faithfulness]") {
  for (auto& model : test::both_families(77)) {
    const auto pairs = pairs_for(model);
    const auto metric = LogitDiff(model, pairs);
    const auto edges = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted);
    auto graph = CircuitGraph::from_edge_scores(edges, GraphInfo{.method = edges.method, .n_heads = 4, .d_model = 32});
    graph.keep_top_k(12);
    // 0.001 of the edges is no edge at all: the empty circuit.
    const auto f = faithfulness(model, pairs, metric, graph, {.ablations = circuit_ablations(3), .fractions = {0.001, 0.05, 0.3, 1.0}});
    INFO(to_string(model.config().arch));
    REQUIRE(f.ablations.size() == 5);
    REQUIRE(f.points.size() == 5);  // four fractions and the graph's own size
    CHECK(f.points.front().edges == 0);
    CHECK(f.points.back().edges == graph.num_edges());
    std::size_t own = 0;
    for (std::size_t i = 0; i < f.points.size(); ++i)
      if (f.points[i].graph_size) own = i;
    CHECK(f.points[own].edges == graph.kept_edges());
    CHECK(f.points[own].fraction == Approx(static_cast<double>(graph.kept_edges()) / static_cast<double>(graph.num_edges())));
    for (std::size_t a = 0; a < 5; ++a) {
      INFO(f.ablations[a]);
      CHECK(f.points.front().value[a] == 0.0);
      CHECK(f.points.back().value[a] == 1.0);
      CHECK(f.full[a] == f.full[0]);  // nothing ablated is the same run whatever the ablation
      std::vector<double> x, y;
      for (const auto& p : f.points)
        if (!p.graph_size) {
          x.push_back(p.fraction);
          y.push_back(p.value[a]);
        }
      CHECK(f.areas[a].cpr == curve_areas(x, y).cpr);  // the graph's own size is not in the areas
    }
    CHECK(f.empty[f.ablation_index("corrupted")] != f.empty[f.ablation_index("zero")]);

    test::TempDir dir;
    {
      H5Writer out(dir / "f.h5", false);
      write_faithfulness(out, f);
      out.commit();
    }
    const auto back = read_faithfulness(H5Reader(dir / "f.h5"));
    CHECK(back.ablations == f.ablations);
    CHECK(back.full == f.full);
    CHECK(back.empty == f.empty);
    REQUIRE(back.points.size() == f.points.size());
    for (std::size_t i = 0; i < f.points.size(); ++i) {
      for (std::size_t a = 0; a < 5; ++a) CHECK(back.points[i].value[a] == Approx(f.points[i].value[a]).epsilon(1e-6));  // float32 in the file
      CHECK(back.points[i].fraction == f.points[i].fraction);
      CHECK(back.points[i].graph_size == f.points[i].graph_size);
    }
    CHECK(back.areas[2].cmd == f.areas[2].cmd);
    CHECK(back.warnings == f.warnings);
  }
}

TEST_CASE("faithfulness under an ablation that cannot move the metric is flagged, not reported as if it meant something", "[faithfulness]") {
  auto model = test::both_families(79).front();
  auto pairs = pairs_for(model);
  for (auto& p : pairs) p.corrupted = p.clean;  // the corrupted run is the clean run: m(empty) = m(full) under corrupted ablation
  const auto metric = LogitDiff(model, pairs);
  const auto edges = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted);
  auto graph = CircuitGraph::from_edge_scores(edges, GraphInfo{.method = edges.method, .n_heads = 4, .d_model = 32});
  graph.keep_top_k(5);
  std::vector<std::string> warned;
  const auto previous = set_warning_handler([&](const std::string& w) { warned.push_back(w); });
  const auto f = faithfulness(model, pairs, metric, graph, {.ablations = {parse_circuit_ablation("corrupted", 0)}, .fractions = {0.5, 1.0}});
  set_warning_handler(previous);
  REQUIRE(f.warnings.size() == 1);
  CHECK_THAT(f.warnings[0], Catch::Contains("faithfulness under corrupted ablation") && Catch::Contains("its values mean"));
  REQUIRE(warned.size() == 1);
  CHECK(warned[0] == f.warnings[0]);
}

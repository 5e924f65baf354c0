// Circuit discovery on a model with a planted mechanism: head a1.h2 alone writes along the
// probe's direction. Every method must single it out, and the graph must contain it.
#include <catch2/catch.hpp>

#include <set>

#include <ATen/ATen.h>

#include "../support/cli.hpp"
#include "../support/paths.hpp"
#include "../support/metrics.hpp"
#include "../support/random_pairs.hpp"
#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/analysis/direct.hpp"
#include "patchbay/analysis/heads.hpp"
#include "patchbay/analysis/direction_ablation.hpp"
#include "patchbay/model/load.hpp"
#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/graph/ground_truth.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/model/random_model.hpp"
#include "patchbay/patching/ablation.hpp"
#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/path.hpp"

using namespace patchbay;

namespace {
// Residual dimension 0 is written only by head a1.h2; the probe reads dimension 0 after layer 1.
Model planted_model() {
  auto model = random_model(gpt2_like_config(3, 32, 4, 61, 16), 77);
  auto& w = const_cast<ModelWeights&>(model.weights());
  at::NoGradGuard no_grad;
  w.W_E.select(1, 0).zero_();
  w.W_pos.select(1, 0).zero_();
  for (int l = 0; l < 3; ++l) {
    auto& lw = w.layers[static_cast<std::size_t>(l)];
    lw.W_O.select(1, 0).zero_();
    lw.b_O[0] = 0;
    lw.W_out.select(1, 0).zero_();
    lw.b_out[0] = 0;
    if (l == 0) {  // layer 0 writes nothing at all, so nothing upstream of a1.h2 differs but the input
      lw.W_O.zero_();
      lw.b_O.zero_();
      lw.W_out.zero_();
      lw.b_out.zero_();
    }
  }
  w.layers[1].W_O.narrow(0, 2 * 8, 8).select(1, 0).fill_(1.0);  // head 2's rows (d_head 8) write dimension 0
  return model;
}

}  // namespace

TEST_CASE("every method finds the planted head and the graph contains it", "[circuit][planted]") {
  auto model = planted_model();
  auto metric = test::dimension_zero_metric(model);
  auto pairs = test::random_pairs(6, 7, 61, 12);

  SECTION("exact patching: only a1.h2 matters") {
    auto r = patch_sweep(model, pairs, metric, PatchSweep::heads(), PatchDirection::CleanIntoCorrupted);
    auto effect = r.effect();  // [layer, head]
    CHECK(std::abs(effect[1][2].item<float>() - 1.0f) < 1e-4f);
    effect[1][2] = 0;
    CHECK(effect.abs().max().item<float>() < 1e-5f);
  }
  SECTION("attribution patching is exact for it") {
    auto r = attribution_patch(model, pairs, metric, PatchSweep::heads(), PatchDirection::CleanIntoCorrupted);
    CHECK(std::abs(r.effect()[1][2].item<float>() - 1.0f) < 1e-4f);
  }
  SECTION("direct attribution puts the whole metric on it") {
    auto d = direct_attribution(model, pair_tokens(pairs, 0), 6, metric);
    auto head = d.contributions.select(1, d.index("a1.h2"));
    CHECK(at::allclose(head, d.total, 1e-5, 1e-5));
  }
  SECTION("ablating it, and only it, removes the effect") {
    AblationOptions o;
    o.kind = AblationKind::Corrupted;
    auto sweep = ablation_sweep(model, pairs, metric, o);
    auto effect = sweep.effect();
    auto idx = std::find(sweep.components.begin(), sweep.components.end(), "a1.h2") - sweep.components.begin();
    CHECK(std::abs(effect[idx].item<float>() + 1.0f) < 1e-4f);
    effect[idx] = 0;
    CHECK(effect.abs().max().item<float>() < 1e-5f);
  }
  SECTION("EAP, EAP-IG and path-patching graphs keep it; faithfulness of the circuit is 1") {
    for (int steps : {0, 5, -1}) {
      auto edges = steps < 0 ? path_patch(model, pairs, metric, PatchDirection::CleanIntoCorrupted)
                             : edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, steps);
      INFO(edges.method);
      auto graph = CircuitGraph::from_edge_scores(edges, GraphInfo{.method = edges.method, .n_heads = 4, .d_model = 32});
      // The effect flows input -> a1.h2 -> read-out: those edges lead, every other edge into
      // the read-out is exactly zero.
      auto top = graph.top_edges(2);
      for (const auto& edge : top) CHECK((std::get<0>(edge) == "a1.h2" || std::get<1>(edge).rfind("a1.h2<", 0) == 0));
      for (const auto& [from, to, score] : graph.top_edges(graph.num_edges()))
        if (to == "readout" && from != "a1.h2") CHECK(score == 0.0);
      const auto vertices = graph.num_nodes();
      graph.keep_top_k(1);
      CHECK(graph.num_nodes() == vertices);  // pruning flags, never removes
      // The smallest closed circuit: input -> a1.h2 (through q, k or v) -> read-out.
      CHECK(graph.kept_components() == std::vector<std::string>{"a1.h2"});
      CHECK(graph.kept_edges() == 2);
      CHECK(graph.graph()[graph.vertex("input")].kept);
      // Under corrupted ablation the 2-edge circuit recovers the whole effect when its one input
      // edge is the side the planted head reads its signal through.
      const auto f = faithfulness(model, pairs, metric, graph, {.ablations = {parse_circuit_ablation("corrupted", 0)}, .fractions = {1.0}});
      REQUIRE(f.points.size() == 2);
      CHECK(f.points[0].graph_size);
      CHECK(f.points[0].nodes == 3);  // input, a1.h2 and the read-out
      CHECK(f.points[0].edges == 2);
      CHECK(f.points[1].value[0] == 1.0);  // the whole graph: nothing ablated
    }
  }
}

TEST_CASE("against the planted truth, exact path patching ranks the circuit's nodes and edges first (ROC AUC 1)", "[circuit][ground_truth]") {
  auto model = planted_model();
  auto metric = test::dimension_zero_metric(model);
  auto pairs = test::random_pairs(6, 7, 61, 12);
  const auto truth = GroundTruth::parse(R"({"nodes": ["a1.h2"], "edges": ["input->a1.h2<q>", "input->a1.h2<k>", "input->a1.h2<v>", "a1.h2->logits"]})",
                                        "planted.json");
  truth.check_against(edge_layout(model.config(), 1));
  for (int steps : {-1, 0}) {
    auto edges = steps < 0 ? path_patch(model, pairs, metric, PatchDirection::CleanIntoCorrupted)
                           : edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, steps);
    INFO(edges.method);
    auto graph = CircuitGraph::from_edge_scores(edges, GraphInfo{.method = edges.method, .n_heads = 4, .d_model = 32});
    const auto auc = ground_truth_auc(graph, truth);
    CHECK(auc.node_roc_auc == 1.0);
    CHECK(auc.edge_roc_auc == 1.0);
    CHECK(auc.ground_truth == "planted.json");
  }
  // The inverse truth (every head and MLP but the planted one) scores 0: the one negative ranks first.
  auto path = CircuitGraph::from_edge_scores(path_patch(model, pairs, metric, PatchDirection::CleanIntoCorrupted), GraphInfo{.n_heads = 4, .d_model = 32});
  const auto inverse = GroundTruth::parse(R"({"nodes": ["a0.h0", "a0.h1", "a0.h2", "a0.h3", "m0", "a1.h0", "a1.h1", "a1.h3", "m1"]})", "inverse.json");
  CHECK(ground_truth_auc(path, inverse).node_roc_auc == 0.0);
}

TEST_CASE("ROC AUC is the rank statistic, and a ground truth that names what the model lacks is refused", "[circuit][ground_truth]") {
  // Positives 0.9 and 0.7 against negatives 0.8 and 0.6: 3 of the 4 (positive, negative) pairs are ordered.
  CHECK(roc_auc({0.9, 0.8, 0.7, 0.6}, {true, false, true, false}) == Approx(0.75));
  CHECK(roc_auc({1, 1, 1}, {true, false, false}) == Approx(0.5));  // ties count half
  CHECK(roc_auc({0.1, 0.2, 0.3}, {false, false, true}) == 1.0);
  CHECK(roc_auc({0.1, 0.2, 0.3}, {true, false, false}) == 0.0);
  CHECK_THROWS_WITH(roc_auc({0.1, 0.2}, {true, true}), Catch::Contains("at least one item in the circuit and one outside it"));
  const auto layout = edge_layout(4, 1);
  CHECK_THROWS_WITH(GroundTruth::parse(R"({"nodes": ["a3.h0"]})", "t.json").check_against(layout),
                    Catch::Contains("'t.json': node 'a3.h0' is not a head or MLP up to the read-out layer 1"));
  CHECK_THROWS_WITH(GroundTruth::parse(R"({"edges": ["a1.h0->a0.h1<q>"]})", "t.json").check_against(layout),
                    Catch::Contains("'a1.h0->a0.h1<q>' is not an edge of the model"));
  CHECK_THROWS_WITH(GroundTruth::parse(R"({"nodes": "a0.h1"})", "t.json"), Catch::Contains("\"nodes\" must be a list of names"));
  CHECK_THROWS_WITH(GroundTruth::parse(R"({"node": ["a0.h1"]})", "t.json"), Catch::Contains("unknown key \"node\""));
  CHECK_THROWS_WITH(GroundTruth::parse("{}", "t.json"), Catch::Contains("names no node and no edge"));
  CHECK_THROWS_WITH(GroundTruth::parse("[1", "t.json"), Catch::Contains("'t.json' is not valid JSON"));
  CHECK_THROWS_WITH(GroundTruth::read_file("/nonexistent/truth.json"), Catch::Contains("cannot read the ground truth '/nonexistent/truth.json'"));
}

TEST_CASE("circuit graphs round-trip through HDF5 and export to DOT, GraphML and EAP-IG JSON", "[circuit][graph]") {
  auto model = planted_model();
  auto metric = test::dimension_zero_metric(model);
  auto pairs = test::random_pairs(3, 6, 61, 2);
  auto edges = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted);
  GraphInfo info{.method = "eap", .metric = "probe_logit_diff", .model = "planted", .seed = 9, .n_heads = 4, .d_model = 32};
  info.provenance = {{"library_version", "test"}};
  auto graph = CircuitGraph::from_edge_scores(edges, info);
  graph.keep_top_k(6);
  CHECK(graph.num_nodes() == 1 + 2 * 5 + 1);

  test::TempDir dir;
  {
    H5Writer out(dir / "g.h5", false);
    graph.write(out);
    out.commit();
  }
  auto back = CircuitGraph::read(H5Reader(dir / "g.h5"));
  REQUIRE(back.num_nodes() == graph.num_nodes());
  REQUIRE(back.num_edges() == graph.num_edges());
  CHECK(back.kept_edges() == graph.kept_edges());
  CHECK(back.kept_components() == graph.kept_components());
  CHECK(back.info().method == "eap");
  CHECK(back.info().seed == 9);
  CHECK(back.info().readout_layer == 1);
  CHECK(back.info().provenance["library_version"] == "test");
  for (std::size_t v = 0; v < graph.num_nodes(); ++v) CHECK(back.graph()[v].name == graph.graph()[v].name);
  auto a = graph.top_edges(50), b = back.top_edges(50);
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(std::get<0>(a[i]) == std::get<0>(b[i]));
    CHECK(std::get<1>(a[i]) == std::get<1>(b[i]));
    CHECK(std::get<2>(b[i]) == Approx(std::get<2>(a[i])).epsilon(1e-6));
  }

  auto dot = graph.to_dot();
  CHECK(dot.rfind("digraph circuit {", 0) == 0);
  CHECK(dot.find("\"a1.h2\" -> \"readout\"") != std::string::npos);
  CHECK(dot.find("rankdir=BT") != std::string::npos);
  auto graphml = graph.to_graphml();
  CHECK(graphml.find("<node id=\"a1.h2\">") != std::string::npos);
  CHECK(std::count(graphml.begin(), graphml.end(), '<') == std::count(graphml.begin(), graphml.end(), '>'));
  CHECK(graphml.find("<data key=\"g_method\">eap</data>") != std::string::npos);  // graph-level provenance
  CHECK(graphml.find("<data key=\"g_provenance\">") != std::string::npos);
  auto j = graph.to_eap_json();
  CHECK(j["cfg"]["n_layers"] == 2);
  CHECK(j["nodes"]["logits"]["in_graph"] == true);
  CHECK(j["edges"]["a1.h2->logits"]["in_graph"] == true);
  CHECK(j["edges"].contains("input->a1.h0<q>"));
  CHECK_THROWS_WITH(CircuitGraph::read(H5Reader(dir / "g.h5"), "nothing"), Catch::Contains("holds no circuit graph"));
}

namespace {
// The node and edge names EAP-IG's Graph.from_model(cfg) creates (sequential attention and
// MLP): each layer's heads read q, k and v from everything before the layer, its MLP reads
// everything before it including the layer's heads, the logits read everything.
std::pair<std::set<std::string>, std::set<std::string>> eap_ig_names(int n_layers, int n_heads) {
  std::set<std::string> nodes{"input", "logits"}, edges;
  std::vector<std::string> residual{"input"};
  for (int l = 0; l < n_layers; ++l) {
    std::vector<std::string> heads;
    for (int h = 0; h < n_heads; ++h) heads.push_back(fmt::format("a{}.h{}", l, h));
    for (const auto& sender : residual)
      for (const auto& head : heads)
        for (char qkv : {'q', 'k', 'v'}) edges.insert(fmt::format("{}->{}<{}>", sender, head, qkv));
    residual.insert(residual.end(), heads.begin(), heads.end());
    const auto mlp = fmt::format("m{}", l);
    for (const auto& sender : residual) edges.insert(sender + "->" + mlp);
    residual.push_back(mlp);
  }
  for (const auto& sender : residual) edges.insert(sender + "->logits");
  nodes.insert(residual.begin(), residual.end());
  return {nodes, edges};
}

// EAP-IG's Graph.prune() on the JSON's in_graph flags: a node stays if it has a kept outgoing
// edge and (unless it is the input) a kept incoming one; edges stay between kept nodes. Returns
// the kept edge names after pruning to a fixed point.
std::set<std::string> eap_ig_prune(const nlohmann::json& j) {
  std::set<std::string> kept;
  for (const auto& [name, e] : j["edges"].items())
    if (e["in_graph"].get<bool>()) kept.insert(name);
  auto parent = [](const std::string& e) { return e.substr(0, e.find("->")); };
  auto child = [](const std::string& e) {
    auto c = e.substr(e.find("->") + 2);
    return c.substr(0, c.find('<'));
  };
  for (bool changed = true; changed;) {
    std::set<std::string> with_out, with_in{"input"};
    for (const auto& e : kept) {
      with_out.insert(parent(e));
      with_in.insert(child(e));
    }
    std::set<std::string> next;
    for (const auto& e : kept) {
      const bool parent_ok = with_out.count(parent(e)) && with_in.count(parent(e));
      const bool child_ok = child(e) == "logits" || (with_out.count(child(e)) && with_in.count(child(e)));
      if (parent_ok && child_ok) next.insert(e);
    }
    changed = next != kept;
    kept = next;
  }
  return kept;
}
}  // namespace

TEST_CASE("the EAP-IG JSON has EAP-IG's current schema over the model's depth and a closed circuit", "[circuit][graph]") {
  auto model = planted_model();  // 2 layers, 4 heads; the graph stops at its read-out layer 1
  auto metric = test::dimension_zero_metric(model);
  auto pairs = test::random_pairs(3, 6, 61, 2);
  auto edges = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted);
  GraphInfo info{.method = "eap", .model_layers = 3, .n_heads = 4, .n_kv_heads = 4, .d_model = 32};
  for (std::size_t k : {1, 3, 6, 12, 40}) {
    INFO("k = " << k);
    auto graph = CircuitGraph::from_edge_scores(edges, info);
    graph.keep_top_k(k);
    CHECK(graph.kept_edges() >= std::min(k, graph.num_edges()));
    auto j = graph.to_eap_json();
    for (auto key : {"n_layers", "n_heads", "n_key_value_heads", "parallel_attn_mlp", "d_model"}) CHECK(j["cfg"].contains(key));
    CHECK(j["cfg"]["n_layers"] == 3);  // the model's depth: EAP-IG's evaluation loops over every layer
    CHECK(j["patchbay"]["graph_n_layers"] == 2);
    CHECK(j["patchbay"]["sink_hook"] == "blocks.1.hook_resid_post");
    auto [node_names, edge_names] = eap_ig_names(3, 4);
    std::set<std::string> file_nodes, file_edges, kept_edges;
    for (const auto& [name, n] : j["nodes"].items()) {
      file_nodes.insert(name);
      REQUIRE(n.is_object());  // {"in_graph": bool}, as Graph.from_json reads it since Feb 2025
      CHECK(n["in_graph"].is_boolean());
    }
    for (const auto& [name, e] : j["edges"].items()) {
      file_edges.insert(name);
      CHECK(e["score"].is_number());
      CHECK(e["in_graph"].is_boolean());
      if (e["in_graph"].get<bool>()) kept_edges.insert(name);
    }
    CHECK(file_nodes == node_names);
    CHECK(file_edges == edge_names);
    CHECK(j["nodes"]["a2.h0"]["in_graph"] == false);  // beyond the read-out layer
    CHECK(j["edges"]["a1.h2->a2.h0<q>"]["score"] == 0.0);
    CHECK(kept_edges.size() == graph.kept_edges());
    CHECK(eap_ig_prune(j) == kept_edges);  // EAP-IG's pruning removes nothing
    // Node flags agree with the edges: a node is in the graph iff a kept edge leaves it.
    for (const auto& [name, n] : j["nodes"].items()) {
      if (name == "logits") continue;
      bool leaves = false;
      for (const auto& e : kept_edges) leaves = leaves || e.rfind(name + "->", 0) == 0;
      CHECK(n["in_graph"].get<bool>() == leaves);
    }
  }

}

TEST_CASE("attention-pattern scores recover a head planted to attend to each word's first token", "[circuit][heads]") {
  // A real tokenizer gives the prompts; the pattern hook plants head a0.h1's attention.
  auto dir = test::models("stories260K");
  auto model = load_model(dir);
  WordIndexOptions o;
  o.unit_lengths = {2, 3, 4};
  o.bos = true;
  o.train_points = 7;
  o.val_prompts = 6;
  auto ds = WordIndexDataset::generate(model.tokenizer(), o);
  const auto& prompts = ds.val.prompts;
  auto plant = model.add_hook(hook::pattern(0), [&](at::Tensor& pattern, HookId) {
    pattern = pattern.clone();
    auto head = pattern.select(1, 1);  // [batch, q, k]
    head.zero_();
    for (std::int64_t b = 0; b < head.size(0); ++b) {
      const auto& p = prompts[static_cast<std::size_t>(b)];
      for (std::int64_t q = 0; q < head.size(1); ++q) {
        std::int64_t k = q;
        if (q < static_cast<std::int64_t>(p.tokens.size()) && p.unit[q] >= 0)
          while (!p.first[k]) --k;  // back to the first token of the word
        head[b][q][k] = 1.0;
      }
    }
  });
  auto scores = head_pattern_scores(model, prompts, /*batch_size=*/64);
  CHECK(scores.scores.sizes() == at::IntArrayRef({5, 8, 5}));
  auto top = scores.ranking(HeadPattern::CurrentWordFirst, 1);
  CHECK(top[0].first == "a0.h1");
  CHECK(top[0].second == Approx(1.0));
  CHECK(scores.scores[0][1][static_cast<int>(HeadPattern::SpaceTokens)].item<float>() == Approx(1.0));
  // Every score is a mean attention mass: within [0, 1] wherever the pattern applies.
  const auto finite = scores.scores.masked_select(~at::isnan(scores.scores));
  CHECK(finite.numel() > 0);
  CHECK(finite.min().item<float>() >= 0.0f);
  CHECK(finite.max().item<float>() <= 1.0f + 1e-6f);
}

TEST_CASE("ablating probe directions on general text reports loss, KL and attention changes", "[circuit][direction_ablation]") {
  auto dir = test::models("stories260K");
  auto model = load_model(dir);
  auto tokens = text_chunks(model.tokenizer(), general_text(), 64, /*bos=*/true);
  CHECK(tokens.size(0) >= 5);
  CHECK(tokens[0][0].item<std::int64_t>() == 1);
  auto probe = test::random_probe(64, 7, 5);
  for (auto kind : {DirectionAblationKind::Project, DirectionAblationKind::Mean}) {
    auto r = ablate_probe_directions(model, probe, 2, tokens, kind, 3);
    CHECK(r.rank == 6);
    CHECK(r.attention_change.size() == 2);  // layers 3 and 4 read the ablated stream
    CHECK(r.kl_ablated > 0);
    CHECK(r.kl_random > 0);
    CHECK(r.loss > 0);
    CHECK(r.loss < 10);  // a trained model predicts its own domain's text
    // (That the ablation changes the predictions is kl_ablated > 0 above.)
    CHECK(r.tokens == tokens.size(0) * 63);
  }
  auto last = ablate_probe_directions(model, probe, 4, tokens, DirectionAblationKind::Project);
  CHECK(last.attention_change.empty());
}

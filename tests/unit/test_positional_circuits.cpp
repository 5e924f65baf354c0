// Position-aware circuits (nodes are (component, span)): spans from pairs, words or positions;
// EAP by span adds up to whole-component EAP; path patching with one span is whole-component
// path patching; ablating by span with span-independent kept edges is ablating whole edges; and
// on a model with a planted counting head (at the target it attends to word starts, so one more
// word start earlier dilutes what it reads from BOS) the graph finds the head at the target's
// span reading keys from the earlier word.
#include <catch2/catch.hpp>

#include <sstream>

#include <ATen/ATen.h>

#include "../support/cli.hpp"
#include "../support/metrics.hpp"
#include "../support/random_pairs.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/data/pairs_file.hpp"
#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/graph/ground_truth.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/model/random_model.hpp"
#include "patchbay/patching/circuit_metric.hpp"
#include "patchbay/patching/path.hpp"
#include "patchbay/patching/positional_edges.hpp"

using namespace patchbay;

namespace {

constexpr std::int64_t kBos = 0, kVocab = 61;
bool starts_word(std::int64_t token) { return token >= 1 && token <= 30; }

// Layer 0 writes nothing; head a1.h2's query is a constant, its key reads "starts a word or is
// BOS" and its value "is BOS", and it alone writes residual dimension 0, which the probe reads
// after layer 1. Embeddings depend only on the token's class (BOS, word start, continuation).
Model counting_model() {
  auto model = random_model(gpt2_like_config(3, 32, 4, kVocab, 16), 91);
  auto& w = const_cast<ModelWeights&>(model.weights());
  at::NoGradGuard no_grad;
  w.W_E.zero_();
  w.W_E.select(1, 3).fill_(1.0);
  w.W_E[kBos][2] = 1.0;
  w.W_E.narrow(0, 1, 30).select(1, 1).fill_(1.0);
  w.W_pos.zero_();
  for (auto& lw : w.layers) {
    lw.W_O.select(1, 0).zero_();
    lw.b_O[0] = 0;
    lw.W_out.select(1, 0).zero_();
    lw.b_out[0] = 0;
  }
  auto& l0 = w.layers[0];
  for (auto* t : {&l0.W_O, &l0.b_O, &l0.W_out, &l0.b_out}) t->zero_();
  auto& l1 = w.layers[1];
  l1.ln1.w.fill_(1.0);
  l1.ln1.b.zero_();
  constexpr std::int64_t D = 8, head = 2, q = head * D, k = 32 + head * D, v = 64 + head * D;
  for (auto first : {q, k, v}) {
    l1.W_qkv.narrow(1, first, D).zero_();
    l1.b_qkv.narrow(0, first, D).zero_();
  }
  l1.b_qkv[q] = 10.0;        // q[0]: the same at every position
  l1.W_qkv[1][k] = 1.0;      // k[0]: word start ...
  l1.W_qkv[2][k] = 1.0;      // ... or BOS
  l1.W_qkv[2][v] = 1.0;      // v[0]: BOS
  l1.W_O[q][0] = 1.0;        // z[0] of head 2 -> dimension 0
  return model;
}

// 3|1 against 1|2|1 after BOS: clean [BOS, s, c, c, s], corrupted [BOS, s, s, c, s]. The
// corrupted prompt has one more word start, at token 2 (in the clean prompt's word w0).
std::vector<PromptPair> counting_pairs(int n) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto start = [&] { return 1 + at::randint(30, {1}, gen, at::kLong).item<std::int64_t>(); };
  auto cont = [&] { return 31 + at::randint(30, {1}, gen, at::kLong).item<std::int64_t>(); };
  std::vector<PromptPair> pairs;
  for (int i = 0; i < n; ++i) {
    PromptPair p;
    p.clean.tokens = {kBos, start(), cont(), cont(), start()};
    p.clean.unit = {-1, 0, 0, 0, 1};
    p.corrupted.tokens = {kBos, start(), start(), cont(), start()};
    p.corrupted.unit = {-1, 0, 1, 1, 2};
    p.target = 4;
    p.clean_label = 1;
    p.corrupted_label = 2;
    pairs.push_back(std::move(p));
  }
  return pairs;
}

double score_of(const EdgeScores& e, const std::string& sender, const std::string& receiver) {
  const auto s = std::find(e.senders.begin(), e.senders.end(), sender) - e.senders.begin();
  const auto r = std::find(e.receivers.begin(), e.receivers.end(), receiver) - e.receivers.begin();
  REQUIRE(s < static_cast<std::ptrdiff_t>(e.senders.size()));
  REQUIRE(r < static_cast<std::ptrdiff_t>(e.receivers.size()));
  return e.scores[s][r].item<double>();
}

// [sender, receiver] of whole components from scores by span: the spans' scores summed.
at::Tensor summed_over_spans(const EdgeScores& e, std::int64_t senders, std::int64_t receivers) {
  const auto A = e.spans.size();
  auto by_span = e.scores.narrow(1, 0, (receivers - 1) * A).reshape({senders, A, receivers - 1, A}).sum({1, 3});
  auto readout = e.scores.select(1, e.scores.size(1) - 1).reshape({senders, A}).sum(1, true);
  return at::cat({by_span, readout}, 1);
}

}  // namespace

TEST_CASE("spans come from the pairs, their words or their positions, and must cover the prompt up to the target", "[positional]") {
  const auto pairs = counting_pairs(3);
  const auto words = span_schema(pairs);
  CHECK(words.source == "words");
  CHECK(words.names == std::vector<std::string>{"prefix", "w0", "w1"});
  CHECK(words.ranges[1][1].first == 1);
  CHECK(words.ranges[1][1].last == 3);
  const auto m = words.membership(5);  // [pair, pos, span]
  CHECK(at::equal(m.sum(2), at::ones({3, 5})));
  CHECK(m[0][2][1].item<float>() == 1.0f);

  const auto positions = span_schema(test::random_pairs(2, 4, kVocab, 3));
  // Random pairs carry one word: a single span "w0"; positions name every token.
  CHECK(positions.names == std::vector<std::string>{"w0"});
  CHECK(position_spans(pairs).names == std::vector<std::string>{"p0", "p1", "p2", "p3", "p4"});

  PairsFileOptions o;
  o.vocab_size = kVocab;
  std::istringstream good(R"({"clean_ids": [0, 1, 2, 3], "corrupted_ids": [0, 1, 4, 3], "spans": [{"name": "bos", "first": 0, "last": 0}, {"name": "rest", "first": 1, "last": 3}]})");
  const auto from_file = parse_pairs(good, "p.jsonl", o);
  const auto schema = span_schema(from_file);
  CHECK(schema.source == "pairs");
  CHECK(schema.names == std::vector<std::string>{"bos", "rest"});
  CHECK(pair_to_json_line(from_file[0]).find(R"("spans":[{"first":0,"last":0,"name":"bos"})") != std::string::npos);

  auto refused = [&](const std::string& line) {
    std::istringstream in(line);
    return parse_pairs(in, "p.jsonl", o);
  };
  CHECK_THROWS_WITH(refused(R"({"clean_ids": [0, 1, 2], "corrupted_ids": [0, 1, 4], "spans": [{"name": "a", "first": 0, "last": 0}, {"name": "b", "first": 2, "last": 2}]})"),
                    Catch::Contains("p.jsonl line 1") && Catch::Contains("without gaps or overlaps"));
  CHECK_THROWS_WITH(refused(R"({"clean_ids": [0, 1, 2], "corrupted_ids": [0, 1, 4], "spans": [{"name": "a@b", "first": 0, "last": 2}]})"),
                    Catch::Contains("letters, digits and '_'"));
  CHECK_THROWS_WITH(refused(R"({"clean_ids": [0, 1, 2], "corrupted_ids": [0, 1, 4], "spans": [{"name": "a", "first": 0, "last": 3}]})"),
                    Catch::Contains("expected 0 <= first <= last < 3"));
  CHECK_THROWS_WITH(refused("{\"clean_ids\": [0, 1], \"corrupted_ids\": [0, 2], \"spans\": [{\"name\": \"a\", \"first\": 0, \"last\": 1}]}\n"
                            "{\"clean_ids\": [0, 1], \"corrupted_ids\": [0, 2], \"spans\": [{\"name\": \"b\", \"first\": 0, \"last\": 1}]}"),
                    Catch::Contains("line 2") && Catch::Contains("differ from line 1"));
  // Spans that stop before the target are refused when the spans are built.
  std::istringstream short_spans(R"({"clean_ids": [0, 1, 2], "corrupted_ids": [0, 1, 4], "spans": [{"name": "a", "first": 0, "last": 1}]})");
  CHECK_THROWS_WITH(span_schema(parse_pairs(short_spans, "p.jsonl", o)), Catch::Contains("the last span must end at the target"));
  CHECK(parse_span_aggregation("max-abs") == SpanAggregation::MaxAbs);
  CHECK_THROWS_WITH(parse_span_aggregation("median"), Catch::Contains("expected sum, mean, abs-sum or max-abs"));
}

TEST_CASE("EAP by span adds up to whole-component EAP; path patching with one span is whole-component path patching", "[positional]") {
  // Grouped-query attention and rotary positions: the span copies must serve both.
  auto model = random_model(llama_like_config(2, 32, 4, 2, 48, 50, 16), 17);
  LogisticProbe probe = test::random_probe(32, 3, 4);
  ProbeLogitDiff metric(probe, model.config(), 1, 2, 0);
  auto pairs = test::random_pairs(5, 6, 50, 8, 1);
  const auto spans = position_spans(pairs);
  const auto layout = edge_layout(model.config(), 1);
  const auto S = static_cast<std::int64_t>(layout.senders.size()), R = static_cast<std::int64_t>(layout.receivers.size());
  for (int steps : {0, 3}) {
    INFO("ig steps " << steps);
    const auto whole = edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, steps);
    const auto by_span = positional_edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, spans, SpanAggregation::Sum, steps);
    CHECK(by_span.senders.size() == static_cast<std::size_t>(S * spans.size()));
    CHECK(by_span.senders[1] == "input@p1");
    CHECK(by_span.aggregation == "sum");
    const auto summed = summed_over_spans(by_span, S, R);
    CHECK(at::allclose(summed, whole.scores, 1e-4, 1e-5));
    // Edges that cannot exist are exactly zero: a query from another span, a key from a later one.
    CHECK(score_of(by_span, "input@p1", "a1.h0<q>@p2") == 0.0);
    CHECK(score_of(by_span, "input@p3", "a1.h0<k>@p2") == 0.0);
    CHECK(score_of(by_span, "a0.h1@p2", "readout") == 0.0);
    // The other aggregations order as they must: |sum| <= abs-sum, max-abs <= abs-sum, mean = sum for one-token spans.
    const auto abs_sum = positional_edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, spans, SpanAggregation::AbsSum, steps);
    const auto max_abs = positional_edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, spans, SpanAggregation::MaxAbs, steps);
    const auto mean = positional_edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, spans, SpanAggregation::Mean, steps);
    CHECK((by_span.scores.abs() <= abs_sum.scores + 1e-6).all().item<bool>());
    CHECK(at::allclose(max_abs.scores, abs_sum.scores, 1e-5, 1e-7));  // one token per span
    CHECK(at::allclose(mean.scores, by_span.scores, 1e-5, 1e-7));
  }
  SECTION("wider spans: the mean is the sum over the span's tokens divided by their count; max-abs lies below abs-sum") {
    SpanSchema two{"pairs", {"head", "tail"}, {}};
    for (const auto& p : pairs) two.ranges.push_back({{"head", 0, 2}, {"tail", 3, p.target}});
    const auto sum = positional_edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, two, SpanAggregation::Sum);
    const auto mean = positional_edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, two, SpanAggregation::Mean);
    const auto abs_sum = positional_edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, two, SpanAggregation::AbsSum);
    const auto max_abs = positional_edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, two, SpanAggregation::MaxAbs);
    CHECK(at::allclose(summed_over_spans(sum, S, R), edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted).scores, 1e-4, 1e-5));
    CHECK(score_of(mean, "m0@head", "m1@head") == Approx(score_of(sum, "m0@head", "m1@head") / 3).margin(1e-6));
    CHECK((max_abs.scores <= abs_sum.scores + 1e-6).all().item<bool>());
    CHECK((max_abs.scores * 3 + 1e-6 >= abs_sum.scores).all().item<bool>());  // at most 3 tokens a span
  }
  SECTION("path patching") {
    const auto whole = path_patch(model, pairs, metric, PatchDirection::CleanIntoCorrupted);
    SpanSchema one{"pairs", {"all"}, {}};
    for (const auto& p : pairs) one.ranges.push_back({{"all", 0, p.target}});
    const auto single = path_patch(model, pairs, metric, PatchDirection::CleanIntoCorrupted, {.spans = one});
    CHECK(single.senders[0] == "input@all");
    CHECK(at::allclose(single.scores, whole.scores, 1e-5, 1e-6));
    // By position: the difference enters at token 1 on, so edges from token 0 are exactly zero,
    // and into the read-out only the target's position sends.
    const auto by_position = path_patch(model, pairs, metric, PatchDirection::CleanIntoCorrupted, {.spans = spans});
    CHECK(score_of(by_position, "input@p0", "a0.h0<k>@p5") == Approx(0).margin(1e-6));
    CHECK(score_of(by_position, "input@p5", "readout") == Approx(score_of(whole, "input", "readout")).margin(1e-6));
    CHECK(by_position.scores.abs().sum().item<double>() > 0);
  }
}

TEST_CASE("ablating edges by span, with the kept set the same for every span, is ablating the whole edges", "[positional][faithfulness]") {
  auto model = random_model(llama_like_config(2, 32, 4, 2, 48, 50, 16), 23);
  ProbeLogitDiff metric(test::random_probe(32, 3, 6), model.config(), 1, 2, 0);
  auto pairs = test::random_pairs(4, 6, 50, 9, 1);
  SpanSchema spans{"pairs", {"a", "b", "c"}, {}};
  for (const auto& p : pairs) spans.ranges.push_back({{"a", 0, 1}, {"b", 2, 3}, {"c", 4, p.target}});
  const auto layout = edge_layout(model.config(), 1);
  const auto whole = layout.valid();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  const auto kept = whole & (at::rand(whole.sizes(), gen) < 0.5);
  const auto frame = edge_frame(layout, spans, 1);
  const auto S = whole.size(0), R = whole.size(1), A = spans.size();
  // Kept by span exactly where the whole edge is kept.
  auto kept_by_span = at::cat({kept.narrow(1, 0, R - 1).view({S, 1, R - 1, 1}).expand({S, A, R - 1, A}).reshape({S * A, (R - 1) * A}),
                               kept.select(1, R - 1).view({S, 1}).expand({S, A}).reshape({S * A, 1})}, 1) & frame.valid;
  for (const auto& ablation : circuit_ablations(3)) {
    INFO(ablation.name);
    const auto expected = circuit_metric(model, pairs, metric, kept, ablation.options);
    const auto got = circuit_metric(model, pairs, metric, kept_by_span, ablation.options, {.spans = spans});
    CHECK(at::allclose(got, expected, 1e-4, 1e-5));
  }
  // Keeping everything is the clean run; keeping nothing under corrupted ablation the corrupted run.
  const auto clean = circuit_metric(model, pairs, metric, frame.valid, {}, {.spans = spans});
  CHECK(at::allclose(clean, circuit_metric(model, pairs, metric, whole, {}), 1e-5, 1e-6));
  const auto none = circuit_metric(model, pairs, metric, at::zeros_like(frame.valid), {.kind = AblationKind::Corrupted}, {.spans = spans});
  const auto corrupted = metric(model.forward(pair_tokens(pairs, 1), ForwardOptions().stop_after(1)).select(1, 5));
  CHECK(at::allclose(none, corrupted, 1e-4, 1e-5));
  CHECK_THROWS_WITH(circuit_metric(model, pairs, metric, kept, {}, {.spans = spans}), Catch::Contains("and 3 spans"));
}

TEST_CASE("the positional graph finds the planted counting head at the target reading keys from the earlier word", "[positional][planted]") {
  auto model = counting_model();
  auto metric = test::dimension_zero_metric(model);
  auto pairs = counting_pairs(6);
  const auto spans = span_schema(pairs);
  const auto path = path_patch(model, pairs, metric, PatchDirection::CleanIntoCorrupted, {.spans = spans});
  // The extra word start (token 2, in w0) changes a1.h2's key there; only the target's query reads it into the read-out.
  const double key_edge = score_of(path, "input@w0", "a1.h2<k>@w1");
  CHECK(key_edge > 0.1);  // the clean keys in the corrupted run: one word start fewer, more of BOS, a higher metric
  CHECK(score_of(path, "input@w0", "a1.h2<k>@w0") == Approx(0).margin(1e-6));  // w0's queries write where nothing reads up to layer 1
  CHECK(score_of(path, "input@w0", "a1.h2<q>@w0") == 0.0);  // the query is a constant
  CHECK(score_of(path, "input@prefix", "a1.h2<k>@w1") == Approx(0).margin(1e-6));  // BOS is the same in both prompts
  CHECK(std::abs(score_of(path, "a1.h2@w1", "readout")) > 0.1);

  auto graph = CircuitGraph::from_edge_scores(path, GraphInfo{.method = "path", .n_heads = 4, .d_model = 32});
  CHECK(graph.graph()[graph.vertex("a1.h2@w1")].span == "w1");
  graph.keep_top_k(2);
  CHECK(graph.kept_components() == std::vector<std::string>{"a1.h2@w1"});
  for (const auto& [from, to, score] : graph.top_edges(graph.num_edges(), /*kept_only=*/true)) {
    INFO(from << "->" << to);
    if (to.rfind("a1.h2<", 0) == 0) {
      CHECK(to == "a1.h2<k>@w1");
      CHECK(from == "input@w0");  // the earlier word's span
    } else {
      CHECK(from == "a1.h2@w1");  // the output, at the target's span
      CHECK(to == "readout");
    }
  }
  // Node ROC AUC against the planted truth, named by span or as the whole component.
  for (const char* truth : {R"({"nodes": ["a1.h2@w1"]})", R"({"nodes": ["a1.h2"]})"}) {
    INFO(truth);
    const auto t = GroundTruth::parse(truth, "planted.json");
    t.check_against(edge_layout(model.config(), 1), spans);
    CHECK(ground_truth_auc(CircuitGraph::from_edge_scores(path, GraphInfo{.n_heads = 4, .d_model = 32}), t).node_roc_auc == 1.0);
  }
  CHECK_THROWS_WITH(GroundTruth::parse(R"({"nodes": ["a1.h2@w9"]})", "t.json").check_against(edge_layout(model.config(), 1), spans),
                    Catch::Contains("a1.h2@w9"));

  SECTION("EAP by span ranks the same key edge first among a1.h2's inputs") {
    const auto eap = positional_edge_attribution(model, pairs, metric, PatchDirection::CleanIntoCorrupted, spans, SpanAggregation::Sum);
    auto g = CircuitGraph::from_edge_scores(eap, GraphInfo{.method = "eap", .n_heads = 4, .d_model = 32});
    const auto top = g.top_edges(1);
    CHECK(std::get<1>(top[0]) == "a1.h2<k>@w1");
    CHECK(std::get<0>(top[0]) == "input@w0");
  }
  SECTION("faithfulness by span: 1 with everything kept, 0 with nothing, for every ablation") {
    graph.keep_top_k(6);
    const auto f = faithfulness(model, pairs, metric, graph, {.ablations = circuit_ablations(1), .fractions = {1e-9, 0.5, 1.0}, .spans = spans});
    REQUIRE(f.points.size() == 4);
    CHECK(f.points.front().edges == 0);
    for (std::size_t i = 0; i < f.ablations.size(); ++i) {
      INFO(f.ablations[i]);
      CHECK(f.points.front().value[i] == 0.0);
      CHECK(f.points.back().value[i] == 1.0);
    }
    CHECK(f.areas.size() == f.ablations.size());
  }
  SECTION("the graph and its spans round-trip through HDF5") {
    test::TempDir dir;
    const auto file = dir / "graph.h5";
    {
      H5Writer out(file, true);
      graph.write(out);
      spans.write(out, "graph");
      out.commit();
    }
    H5Reader in(file);
    const auto back = CircuitGraph::read(in);
    CHECK(back.num_nodes() == graph.num_nodes());
    CHECK(back.graph()[back.vertex("a1.h2@w1")].span == "w1");
    const auto s = SpanSchema::read(in, "graph");
    CHECK(s.names == spans.names);
    CHECK(s.ranges[5][1].last == 3);
    CHECK_THROWS_WITH(back.to_eap_json(), Catch::Contains("no EAP-IG JSON form"));
  }
}

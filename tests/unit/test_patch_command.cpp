// `patchbay patch`: a user's pairs file and metric through the same patching study `discover`
// runs, written in the documented layout; metrics that do not separate the pairs are flagged.
#include <catch2/catch.hpp>

#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "../support/cli.hpp"
#include "../support/paths.hpp"
#include "patchbay/experiments/patching_study.hpp"
#include "../support/random_pairs.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/warnings.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/patching/output_metrics.hpp"

using namespace patchbay;

namespace {
// stories260K pairs of 13 tokens: text (the model's tokenizer adds BOS) and ids; answers by id.
const char* kPairs = R"({"clean": "Lily went to the park. Then Lily", "corrupted": "Lily went to the park. Then she", "correct_id": 263, "incorrect_id": 295}
{"clean": "Lily went to the park. Then he", "corrupted": "Lily went to the park. Then she", "correct_id": 263, "incorrect_id": 295}
{"clean_ids": [1,317,263,377,267,265,282,295,433,426,291,416,317], "corrupted_ids": [1,317,263,377,267,265,282,295,433,426,291,416,281], "correct_id": 263, "incorrect_id": 295}
)";

std::string write(const test::TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / name) << text;
  return dir / name;
}

test::CliResult patch(const std::string& args) { return test::run_cli("patch --model '" + test::models("stories260K") + "' " + args); }
}  // namespace

TEST_CASE("patch runs a user's pairs and metric and writes the documented layout", "[patch][e2e]") {
  test::TempDir dir;
  const auto pairs = write(dir, "pairs.jsonl", kPairs);
  const auto truth = write(dir, "truth.json", R"({"nodes": ["a3.h5", "m4"], "edges": ["a3.h5->logits"]})");
  auto run = patch("--pairs '" + pairs + "' --metric logit-diff --sweeps z_layer_head,resid_pre_layer_position --graph path,eap --ground-truth '" +
                   truth + "' --json --out '" + (dir / "p.h5") + "'");
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const auto summary = nlohmann::json::parse(run.out);
  CHECK(summary["pairs"] == 3);
  CHECK(summary["metric_name"] == "logit-diff");
  CHECK(summary["method"] == "path");
  // Both methods compared on the same pairs, each circuit evaluated under every ablation and
  // scored against the ground truth; the whole graph is exactly faithful.
  REQUIRE(summary["comparison"].size() == 2);
  CHECK(summary["comparison"][0]["method"] == "path");
  CHECK(summary["comparison"][1]["method"] == "eap");
  for (const auto& row : summary["comparison"]) {
    CHECK(row["faithfulness"].size() == 5);
    CHECK(row["node_roc_auc"].is_number());
    CHECK(row["edges"].get<std::size_t>() >= 20);
  }
  CHECK(summary["node_roc_auc"] == summary["comparison"][0]["node_roc_auc"]);
  CHECK(summary["faithfulness_areas"].size() == 5);
  CHECK(summary["faithfulness"].back()["faithfulness"]["zero"] == 1.0);
  H5Reader f(dir / "p.h5");
  CHECK(f.attribute("kind") == std::optional<std::string>("patching"));
  // The contract: patching/<sweep>/<direction>/{metric,clean,corrupted,effect}.
  for (const char* dir_name : {"clean_into_corrupted", "corrupted_into_clean"})
    for (const char* leaf : {"metric", "clean", "corrupted", "effect"}) {
      CHECK(f.has(std::string("patching/z_layer_head/") + dir_name + "/" + leaf));
      CHECK(f.has(std::string("patching/resid_pre_layer_position/") + dir_name + "/" + leaf));
    }
  CHECK(f.shape("patching/z_layer_head/clean_into_corrupted/clean") == std::vector<std::int64_t>{3});
  CHECK(f.shape("patching/resid_pre_layer_position/clean_into_corrupted/metric") == std::vector<std::int64_t>{3, 5, 13});
  CHECK(f.has("attribution/z_layer_head/effect"));
  CHECK(f.has("ablation/mean/effect"));
  CHECK(f.has("graph/edges/score"));
  CHECK(f.shape("graph/faithfulness/value") == std::vector<std::int64_t>{5, 11});  // 5 ablations x (10 fractions + the graph's size)
  CHECK(f.shape("comparison/faithfulness") == std::vector<std::int64_t>{2, 5});
  CHECK(f.numeric_attribute("node_roc_auc", "graph").has_value());
  CHECK(f.attribute("ground_truth", "graph") == std::optional<std::string>(truth));
  CHECK(f.attribute("metric") == std::optional<std::string>("logit-diff"));
  CHECK(f.numeric_attribute("metric_layer") == std::optional<double>(4));
  const auto report = test::slurp(dir / "p_report.html");
  CHECK_THAT(report, Catch::Contains("Activation patching") && Catch::Contains("Metric: logit-diff") && Catch::Contains("Circuit graph"));
  CHECK_THAT(report, Catch::Contains("Edge-scoring methods compared") && Catch::Contains("CPR") && Catch::Contains("node ROC AUC"));
  // An independent reader (h5py) finds everything by the names docs/FORMAT.md gives.
  auto h5py = test::run_command(std::string(PATCHBAY_PYTHON) + " " + PATCHBAY_SOURCE_DIR + "/tests/python/check_result_files.py --patching '" +
                                (dir / "p.h5") + "' '" + pairs + "'");
  INFO(h5py.out << h5py.err);
  CHECK_THAT(h5py.out, Catch::Contains("h5py checks: 0 failed"));
  // The logit difference of the clean run is logit[correct] - logit[incorrect] of the model's
  // own logits at the target (from `run`, an independent path through the CLI).
  const auto study = read_patching_study(f);
  REQUIRE(study.pairs.size() == 3);
  CHECK(study.pairs[2].clean.tokens.front() == 1);  // ids used as given
  CHECK(study.pairs[0].clean.tokens == study.pairs[2].clean.tokens);  // text tokenized with BOS
  CHECK(study.patch(PatchSweep::heads(), PatchDirection::CleanIntoCorrupted).clean.sizes() == at::IntArrayRef{3});
  CHECK(study.metric.separation.clean == Approx(summary["clean_metric"].get<double>()));
  REQUIRE(study.comparison.rows.size() == 2);
  CHECK(study.comparison.rows[1].method == "eap");
  CHECK(study.comparison.rows[0].node_roc_auc == study.ground_truth->node_roc_auc);
  CHECK(study.faithfulness.ablations == std::vector<std::string>{"zero", "mean", "mean-positional", "resample", "corrupted"});
  // A bad ground truth is refused before any work, naming the file and the name.
  const auto bad_truth = write(dir, "bad.json", R"({"nodes": ["a9.h0"]})");
  auto refused = patch("--pairs '" + pairs + "' --sweeps z_layer_head --graph eap --ground-truth '" + bad_truth + "' --out '" + (dir / "b.h5") + "'");
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("bad.json': node 'a9.h0' is not a head or MLP"));
  CHECK_FALSE(test::have(dir / "b.h5"));
  auto bad_method = patch("--pairs '" + pairs + "' --graph path,acdc --out '" + (dir / "c.h5") + "'");
  CHECK(bad_method.exit_code == 2);
  CHECK_THAT(bad_method.err, Catch::Contains("unknown edge method 'acdc'"));

  // KL from the clean run is exactly 0 on it.
  auto kl = patch("--pairs '" + pairs + "' --metric kl --sweeps z_layer_head --out '" + (dir / "kl.h5") + "'");
  REQUIRE(kl.exit_code == 0);
  const auto kl_study = read_patching_study(H5Reader(dir / "kl.h5"));
  const auto& heads = kl_study.patch(PatchSweep::heads(), PatchDirection::CleanIntoCorrupted);
  CHECK(at::equal(heads.clean, at::zeros_like(heads.clean)));
  CHECK((heads.corrupted > 0).all().item<bool>());
  CHECK(kl_study.metric.clean_sign == -1);
}

TEST_CASE("patch --positional builds a position-aware graph over the pairs' own spans", "[patch][e2e][positional]") {
  test::TempDir dir;
  const std::string spans = R"("spans": [{"name": "story", "first": 0, "last": 6}, {"name": "then", "first": 7, "last": 12}])";
  const auto pairs = write(dir, "spans.jsonl",
                           std::string(R"({"clean_ids": [1,317,263,377,267,265,282,295,433,426,291,416,317], "corrupted_ids": [1,317,263,377,267,265,282,295,433,426,291,416,281], "correct_id": 263, "incorrect_id": 295, )") +
                               spans + "}\n" +
                               R"({"clean_ids": [1,317,263,377,267,265,282,295,433,426,291,416,295], "corrupted_ids": [1,317,263,377,267,265,282,295,433,426,291,416,281], "correct_id": 263, "incorrect_id": 295, )" +
                               spans + "}\n");
  auto run = patch("--pairs '" + pairs + "' --sweeps z_layer_head --graph eap --positional --span-aggregation abs-sum --top 8 --json --out '" +
                   (dir / "s.h5") + "'");
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const auto summary = nlohmann::json::parse(run.out);
  for (const auto& e : summary["top_edges"]) CHECK(e["from"].get<std::string>().find('@') != std::string::npos);
  // At 100% of the edges the closed circuit drops the dead ends (a last-layer node outside the
  // target's span reaches no read-out); ablating them cannot matter, up to float rounding.
  CHECK(summary["faithfulness"].back()["faithfulness"]["corrupted"].get<double>() == Approx(1.0).margin(1e-4));
  H5Reader f(dir / "s.h5");
  CHECK(f.read_strings("graph/spans/name") == std::vector<std::string>{"story", "then"});
  CHECK(f.attribute("span_aggregation", "graph") == std::optional<std::string>("abs-sum"));
  CHECK(f.shape("graph/spans/first") == std::vector<std::int64_t>{2, 2});
  const auto study = read_patching_study(f);
  CHECK(study.edges.spans.names == std::vector<std::string>{"story", "then"});
  CHECK(study.edges.aggregation == "abs-sum");
  CHECK(study.graph.graph()[study.graph.vertex("a0.h0@then")].span == "then");
  CHECK_THAT(test::slurp(dir / "s_report.html"), Catch::Contains("span story") && Catch::Contains("span then"));
  auto h5py = test::run_command(std::string(PATCHBAY_PYTHON) + " " + PATCHBAY_SOURCE_DIR + "/tests/python/check_result_files.py --patching '" +
                                (dir / "s.h5") + "' '" + pairs + "'");
  INFO(h5py.out << h5py.err);
  CHECK_THAT(h5py.out, Catch::Contains("h5py checks: 0 failed"));
  auto eap_json = test::run_cli("inspect '" + (dir / "s.h5") + "' --eap-json");
  CHECK(eap_json.exit_code == 1);
  CHECK_THAT(eap_json.err, Catch::Contains("no EAP-IG JSON form"));
  // The aggregation alone, and a graph-less positional study, are refused before any work.
  auto alone = patch("--pairs '" + pairs + "' --graph eap --span-aggregation mean --out '" + (dir / "t.h5") + "'");
  CHECK(alone.exit_code == 1);
  CHECK_THAT(alone.err, Catch::Contains("--span-aggregation mean needs --positional"));
  auto no_graph = patch("--pairs '" + pairs + "' --positional --out '" + (dir / "u.h5") + "'");
  CHECK(no_graph.exit_code == 1);
  CHECK_THAT(no_graph.err, Catch::Contains("--positional shapes the circuit graph"));
}

TEST_CASE("patch flags a metric that does not tell clean from corrupted, and refuses bad input", "[patch][errors]") {
  test::TempDir dir;
  // Identical clean and corrupted prompts: clean - corrupted is exactly 0.
  const auto same = write(dir, "same.jsonl", R"({"clean": "Lily went to the park.", "corrupted": "Lily went to the park.", "correct_id": 263, "incorrect_id": 295}
{"clean_ids": [1,358,263,377,267,265,282,295,433,426], "corrupted_ids": [1,358,263,377,267,265,282,295,433,426], "correct_id": 263, "incorrect_id": 295}
)");
  auto flat = patch("--pairs '" + same + "' --sweeps z_layer_head --json --out '" + (dir / "same.h5") + "'");
  REQUIRE(flat.exit_code == 0);
  CHECK_THAT(flat.err, Catch::Contains("warning: the logit-diff metric is not higher on clean prompts"));
  CHECK(nlohmann::json::parse(flat.out)["metric_separated"] == false);
  H5Reader f(dir / "same.h5");
  CHECK(f.numeric_attribute("metric_separated") == std::optional<double>(0));
  CHECK_THAT(f.attribute("metric_warning").value_or(""), Catch::Contains("mean nothing"));

  const auto bad = write(dir, "bad.jsonl", std::string(kPairs) + "{\"clean_ids\": [1, 2], \"corrupted_ids\": [1]}\n");
  auto refused = patch("--pairs '" + bad + "' --out '" + (dir / "x.h5") + "'");
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("bad.jsonl line 4: clean has 2 tokens and corrupted 1"));
  const auto good = write(dir, "good.jsonl", kPairs);
  auto no_probe = patch("--pairs '" + good + "' --metric probe --out '" + (dir / "x.h5") + "'");
  CHECK(no_probe.exit_code == 1);
  CHECK_THAT(no_probe.err, Catch::Contains("--metric probe needs --probe FILE and --probe-classes"));
  auto bad_sweep = patch("--pairs '" + good + "' --sweeps z_layer_heads --out '" + (dir / "x.h5") + "'");
  CHECK(bad_sweep.exit_code == 1);
  CHECK_THAT(bad_sweep.err, Catch::Contains("unknown patching sweep 'z_layer_heads'"));
  CHECK_FALSE(std::filesystem::exists(dir / "x.h5"));
  // The library says what is wrong; the command line says which flag fixes it.
  auto again = patch("--pairs '" + same + "' --sweeps z_layer_head --out '" + (dir / "same.h5") + "'");
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains("same.h5' already exists; pass --force to overwrite it"));
  try {
    H5Writer(dir / "same.h5", /*overwrite=*/false);
    FAIL("an existing file was opened for writing");
  } catch (const ExistsError& e) {
    CHECK_THAT(e.what(), !Catch::Contains("--"));
  }
}

TEST_CASE("a driver receives the library's warnings through its own handler", "[patch][metrics]") {
  auto model = random_model(gpt2_like_config(2, 32, 4, 61, 16), 1);
  auto pairs = test::with_answers(test::random_pairs(2, 5, 61, 3), 61, 4);
  for (auto& p : pairs) p.corrupted = p.clean;  // nothing to tell apart
  std::vector<std::string> warnings;
  auto previous = set_warning_handler([&](const std::string& m) { warnings.push_back(m); });
  PatchingStudyOptions o;
  o.sweeps = o.attribution_sweeps = {PatchSweep::heads()};
  const auto r = run_patching_study(model, pairs, LogitDiff(model, pairs), o, GraphInfo{});
  set_warning_handler(previous);
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Contains("logit-diff metric is not higher on clean prompts"));
  CHECK_FALSE(r.metric.separation.separated);
  CHECK(r.summary()["metric_warning"] == warnings[0]);
}

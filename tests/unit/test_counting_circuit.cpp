// The counting-circuit study end to end on stories260K, and its command-line contract.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "../support/cli.hpp"
#include "../support/paths.hpp"
#include "patchbay/data/pairs_file.hpp"
#include "patchbay/experiments/counting_circuit.hpp"
#include "patchbay/experiments/study_checkpoint.hpp"
#include "patchbay/experiments/word_index.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/model/load.hpp"
#include "patchbay/model/random_model.hpp"

using namespace patchbay;

TEST_CASE("the counting-circuit study runs end to end on stories260K and records everything", "[circuit][e2e]") {
  auto model = load_model(test::models("stories260K"));
  test::TempDir dir;
  auto wi = default_word_index_options(model);
  wi.data.train_points = 1400;
  wi.data.val_prompts = 100;
  wi.layers = {2, 3};
  wi.extract.progress = 0;
  write_word_index_results(dir / "probe.h5", false, model, wi, run_word_index_experiment(model, wi));

  auto probe = load_probe_for(model, dir / "probe.h5");
  CHECK(probe.layer == 3);
  CountingCircuitOptions o;
  o.pairs = pair_options_for(probe);
  o.pairs.n_pairs = 4;
  CHECK(o.pairs.clean_split == std::vector<int>{4, 2});
  o.head_score_prompts = 8;
  o.top_edges = 10;
  o.checkpoint_dir = dir / "checkpoint";
  auto r = run_counting_circuit(model, probe, o);
  CHECK(r.patching.size() == 18);
  {
    // A resumed run reads every checkpointed stage back: the same numbers, bit for bit.
    auto resumed = run_counting_circuit(model, probe, o);
    for (std::size_t i = 0; i < r.patching.size(); ++i) {
      CHECK(at::equal(resumed.patching[i].metric, r.patching[i].metric));
      CHECK(at::equal(resumed.patching[i].clean, r.patching[i].clean));
      CHECK(resumed.patching[i].axes == r.patching[i].axes);
    }
    CHECK(at::equal(resumed.edges.scores, r.edges.scores));
    CHECK(resumed.edges.receivers == r.edges.receivers);
    CHECK(resumed.graph.kept_components() == r.graph.kept_components());
    {
      // A damaged stage is refused when read back, naming its file: NaN metrics, or a sweep of other pairs.
      const auto& heads = r.patch(PatchSweep::heads(), PatchDirection::CleanIntoCorrupted);
      const auto stage = o.checkpoint_dir + "/patching_z_layer_head_clean_into_corrupted.h5";
      auto damage = [&](const at::Tensor& metric, const at::Tensor& clean) {
        H5Writer out(stage, /*overwrite=*/true);
        out.write_tensor("metric", metric, {heads.axes, "damaged"});
        out.write_tensor("clean", clean, {{"pair"}, "damaged"});
        out.write_tensor("corrupted", clean, {{"pair"}, "damaged"});
        out.commit();
      };
      damage(at::full_like(heads.metric, std::nan("")), heads.clean);
      CHECK_THROWS_WITH(run_counting_circuit(model, probe, o), Catch::Contains(stage) && Catch::Contains("non-finite metrics"));
      damage(heads.metric.narrow(0, 0, 3), heads.clean.narrow(0, 0, 3));
      CHECK_THROWS_WITH(run_counting_circuit(model, probe, o), Catch::Contains(stage) && Catch::Contains("does not fit this run's 4 pairs"));
      damage(heads.metric, heads.clean);
    }
    // Other options, or a probe file whose contents changed, cannot resume it.
    auto other = o;
    other.pairs.seed = 9;
    CHECK_THROWS_WITH(run_counting_circuit(model, probe, other), Catch::Contains("other options"));
    std::filesystem::copy_file(dir / "probe.h5", dir / "probe_copy.h5");
    auto copy = probe;
    copy.path = dir / "probe_copy.h5";
    o.checkpoint_dir = dir / "checkpoint_copy";
    (void)StudyCheckpoint(o.checkpoint_dir, {copy.path}, counting_circuit_config(o, copy));
    std::ofstream(copy.path, std::ios::app) << "retrained";
    CHECK_THROWS_WITH(run_counting_circuit(model, copy, o), Catch::Contains("probe_copy.h5") && Catch::Contains("changed since the checkpoint"));
    o.checkpoint_dir.clear();
  }
  CHECK(r.graph.kept_edges() == 10);
  REQUIRE(r.faithfulness.ablations.size() == 5);
  for (std::size_t a = 0; a < 5; ++a) CHECK(r.faithfulness.points.back().value[a] == 1.0);  // the whole graph: nothing ablated
  auto paths = write_counting_circuit(dir / "cc.h5", false, model, probe, o, r);
  H5Reader f(paths.front());
  CHECK(f.attribute("kind") == std::optional<std::string>("counting_circuit"));
  for (const char* name : {"patching/z_layer_head/clean_into_corrupted/effect", "patching/resid_pre_layer_position/corrupted_into_clean/metric",
                           "attribution/z_layer_head_position/effect", "direct/clean/contributions", "ablation/mean/effect",
                           "ablation/resample/effect", "ablation/zero/effect", "heads/scores", "direction_ablation/kl_ablated",
                           "graph/nodes/name", "graph/edges/score", "graph/faithfulness/value", "edges/scores"})
    CHECK(f.has(name));
  CHECK(f.shape("patching/z_layer_head_position/clean_into_corrupted/metric") ==
        std::vector<std::int64_t>{4, 5, 8, static_cast<std::int64_t>(r.pairs.front().clean.tokens.size())});
  CHECK(CircuitGraph::read(f).kept_edges() == 10);
  {
    // The one reader gives back what was written.
    const auto file = read_counting_circuit(f);
    const auto& back = file.results;
    CHECK(file.summary == r.summary());
    CHECK(file.config == counting_circuit_config(o, probe));
    REQUIRE(back.patching.size() == r.patching.size());
    for (const auto& p : r.patching) {
      const auto& q = back.patch(p.sweep, p.direction);
      CHECK(at::equal(q.metric, p.metric));
      CHECK(at::equal(q.clean, p.clean));
      CHECK(q.axes == p.axes);
    }
    CHECK(at::equal(back.attributions.front().estimate.metric, r.attributions.front().estimate.metric));
    CHECK(back.attributions.front().correlation_with_patching == r.attributions.front().correlation_with_patching);
    CHECK(back.pairs.size() == r.pairs.size());
    CHECK(back.pairs.back().corrupted.tokens == r.pairs.back().corrupted.tokens);
    CHECK(std::pair{back.to, back.from} == std::pair{r.to, r.from});
    REQUIRE(back.ablations.size() == 3);
    CHECK(at::allclose(back.ablations[1].effect(), r.ablations[1].effect()));
    CHECK(back.ablations[2].components == r.ablations[2].components);
    CHECK(at::equal(back.direct_corrupted.contributions, r.direct_corrupted.contributions));
    CHECK(at::equal(back.direct_clean.mlp_bias, r.direct_clean.mlp_bias));
    CHECK(back.head_scores.patterns == r.head_scores.patterns);
    CHECK(back.direction_ablation.kl_ablated == Approx(r.direction_ablation.kl_ablated));
    CHECK(back.direction_ablation.rank == r.direction_ablation.rank);
    CHECK(at::equal(back.edges.valid, r.edges.valid));
    CHECK(back.edges.method == r.edges.method);
    CHECK(back.graph.kept_components() == r.graph.kept_components());
    REQUIRE(back.faithfulness.points.size() == r.faithfulness.points.size());
    CHECK(back.faithfulness.ablations == r.faithfulness.ablations);
    for (std::size_t i = 0; i < r.faithfulness.points.size(); ++i) {
      CHECK(back.faithfulness.points[i].edges == r.faithfulness.points[i].edges);
      CHECK(back.faithfulness.points[i].graph_size == r.faithfulness.points[i].graph_size);
      for (std::size_t a = 0; a < r.faithfulness.ablations.size(); ++a)
        CHECK(back.faithfulness.points[i].value[a] == Approx(r.faithfulness.points[i].value[a]).epsilon(1e-6));  // float32 in the file
    }
    CHECK(back.faithfulness.areas[4].cpr == r.faithfulness.areas[4].cpr);
    REQUIRE(back.attention_examples.size() == 2);
    CHECK(back.attention_examples[1].heads == r.attention_examples[1].heads);
    CHECK_THROWS_WITH(read_counting_circuit(H5Reader(dir / "probe.h5")), Catch::Contains("not a counting-circuit result file"));
  }

  // The command line: summary JSON, and a probe from another model is refused.
  auto cli = test::run_cli("discover --model '" + test::models("stories260K") + "' --probe '" + (dir / "probe.h5") +
                           "' --pairs 2 --method path --json --out '" + (dir / "cli.h5") + "'");
  INFO(cli.err);
  REQUIRE(cli.exit_code == 0);
  auto j = nlohmann::json::parse(cli.out);
  CHECK(j["method"] == "path");
  {
    // The same study through `patch` with the probe metric on discover's own pairs: the same numbers.
    const auto discovered = read_counting_circuit(H5Reader(dir / "cli.h5")).results;
    std::ofstream pairs_file(dir / "pairs.jsonl");
    for (const auto& p : discovered.pairs) pairs_file << pair_to_json_line(p) << "\n";
    pairs_file.close();
    auto same = test::run_cli("patch --model '" + test::models("stories260K") + "' --pairs '" + (dir / "pairs.jsonl") + "' --metric probe --probe '" +
                              (dir / "probe.h5") + "' --probe-classes " + std::to_string(discovered.to) + "," + std::to_string(discovered.from) +
                              " --out '" + (dir / "patched.h5") + "'");
    INFO(same.err);
    REQUIRE(same.exit_code == 0);
    const auto patched = read_patching_study(H5Reader(dir / "patched.h5"));
    REQUIRE(patched.patching.size() == discovered.patching.size());
    for (const auto& p : discovered.patching) {
      INFO(p.sweep.short_name() << " " << to_string(p.direction));
      CHECK(at::equal(patched.patch(p.sweep, p.direction).metric, p.metric));
    }
    REQUIRE(patched.ablations.size() == discovered.ablations.size());
    for (std::size_t i = 0; i < patched.ablations.size(); ++i) CHECK(at::equal(patched.ablations[i].metric, discovered.ablations[i].metric));
  }
  CHECK_FALSE(std::filesystem::exists(dir / ".cli.h5.checkpoint"));  // removed once the result is complete
  std::filesystem::create_directory(dir / ".stale.h5.checkpoint");
  auto stale = test::run_cli("discover --model '" + test::models("stories260K") + "' --probe '" + (dir / "probe.h5") +
                             "' --pairs 2 --out '" + (dir / "stale.h5") + "'");
  CHECK(stale.exit_code == 1);
  CHECK_THAT(stale.err, Catch::Contains("pass --resume to continue it"));
  CHECK(j["faithfulness"].is_array());
  auto inspect = test::run_cli("inspect '" + (dir / "cli.h5") + "' --json");
  CHECK(nlohmann::json::parse(inspect.out)["graph"]["method"] == "path");
  auto dot = test::run_cli("inspect '" + (dir / "cli.h5") + "' --dot");
  CHECK(dot.out.rfind("digraph circuit", 0) == 0);
  auto wrong = test::run_cli("discover --model '" + test::reference("tiny-gpt2") + "' --probe '" + (dir / "probe.h5") + "' --out '" +
                             (dir / "x.h5") + "'");
  CHECK(wrong.exit_code == 1);
  CHECK_THAT(wrong.err, Catch::Contains("was made with another model"));
  auto not_probe = test::run_cli("discover --probe '" + (dir / "cli.h5") + "' --out '" + (dir / "y.h5") + "'");
  CHECK(not_probe.exit_code == 1);
  CHECK_THAT(not_probe.err, Catch::Contains("is not a word-index result file"));
}

// The word-index experiment end to end on the real stories260K model (small sizes).
#include <catch2/catch.hpp>

#include <ATen/ATen.h>
#include <filesystem>

#include "../support/cli.hpp"
#include "../support/paths.hpp"
#include "patchbay/model/export.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/experiments/word_index.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/safetensors_writer.hpp"
#include "patchbay/probe/probe_source.hpp"
#include "patchbay/model/load.hpp"
#include "patchbay/model/random_model.hpp"

using namespace patchbay;

namespace {
WordIndexExperimentOptions small_options(const Model& model) {
  auto o = default_word_index_options(model);
  o.data.train_points = 1400;
  o.data.val_prompts = 120;
  o.extract.progress = 0;
  return o;
}
}  // namespace

TEST_CASE("features extracted in padded batches equal single-prompt forward passes", "[experiment][word_index]") {
  auto model = load_model(test::models("stories260K"));
  auto o = small_options(model);
  o.data.val_prompts = 9;
  auto ds = WordIndexDataset::generate(model.tokenizer(), o.data);
  ExtractOptions batched{.batch_size = 4, .progress = 0};
  auto features = extract_features(model, ds.val, {-1, 2}, batched);
  at::InferenceMode no_grad;
  for (std::size_t i = 0; i < ds.val.points.size(); ++i) {
    const auto& pt = ds.val.points[i];
    auto tokens = at::tensor(ds.val.prompts[pt.prompt].tokens, at::kLong).unsqueeze(0);
    auto [out, cache] = model.run_with_cache(tokens, filters::only({hook::resid_pre(0), hook::resid_post(2)}),
                                             ForwardOptions().stop_after(2));
    CHECK(at::allclose(features[0][i], cache.at(hook::resid_pre(0))[0][pt.position], 0, 1e-6));
    CHECK(at::allclose(features[1][i], cache.at(hook::resid_post(2))[0][pt.position], 1e-5, 1e-5));
  }
}

TEST_CASE("the word-index experiment reports every layer and the baselines, reproducibly", "[experiment][word_index]") {
  auto model = load_model(test::models("stories260K"));
  auto o = small_options(model);
  auto r = run_word_index_experiment(model, o);
  REQUIRE(r.layers.size() == 6);  // embeddings + 5 blocks
  CHECK(r.main_layer == 3);
  for (const auto& l : r.layers) {
    INFO("layer " << l.layer);
    CHECK((l.val.accuracy >= 0 && l.val.accuracy <= 1));
    CHECK(l.probe.converged);
    auto total = l.val.cells.sum().item<std::int64_t>();
    CHECK(total == static_cast<std::int64_t>(r.dataset.val.points.size()));
  }
  // Rotary models carry no position in the embeddings: the probe there is near chance.
  CHECK(r.layer(-1).val.accuracy < 0.25);
  CHECK(r.layer(4).val.accuracy > r.layer(-1).val.accuracy + 0.1);
  // In the words scheme the space count since the prefix is the word index + 1.
  CHECK(r.space_count_baseline.accuracy == 1.0);
  CHECK(r.abs_position_baseline.accuracy > r.chance());

  auto again = run_word_index_experiment(model, o);
  for (std::size_t i = 0; i < r.layers.size(); ++i) {
    CHECK(at::equal(r.layers[i].probe.W, again.layers[i].probe.W));
    CHECK(r.layers[i].val.accuracy == again.layers[i].val.accuracy);
  }

  auto summary = r.summary(model);
  CHECK(summary["layers"].size() == 6);
  CHECK(summary["layers"][0].contains("val_accuracy"));
  CHECK(summary["baselines"].contains("abs_position"));
  CHECK(summary["baselines"].contains("space_count"));
  CHECK(summary.contains("control_accuracy"));
  CHECK(summary["converged"].is_boolean());
  CHECK(summary["provenance"]["model_sha256"].get<std::string>().rfind("b0a507e7", 0) == 0);  // shared/README.md

  test::TempDir dir;
  auto paths = write_word_index_results(dir / "run.h5", false, model, o, r);
  REQUIRE(paths.size() >= 4);  // the results, the report, its figures
  CHECK(paths[1] == dir / "run_report.html");
  H5Reader file(paths[0]);
  CHECK(file.attribute("kind") == std::optional<std::string>("word_index"));
  CHECK(file.shape("layers/3/val/cells") == std::vector<std::int64_t>{7, static_cast<std::int64_t>(r.layer(3).val.positions.size()), 7});
  CHECK(file.shape("dataset/val/points") == std::vector<std::int64_t>{static_cast<std::int64_t>(r.dataset.val.points.size()), 3});
  auto probe = read_word_index_probe(paths[0], "3");
  CHECK(at::equal(probe.W, r.layer(3).probe.W));
  CHECK_THROWS_WITH(read_word_index_probe(paths[0], "9"), Catch::Contains("has no probe for layer '9'") && Catch::Contains("embed"));
  for (const auto* name : {"run_key_plot.svg", "run_layer_sweep.svg"}) {
    auto svg = test::slurp(dir / name);
    CHECK(svg.rfind("<svg", 0) == 0);
    CHECK(svg.find("<rect") != std::string::npos);
  }
  CHECK_THROWS_WITH(write_word_index_results(dir / "run.h5", false, model, o, r), Catch::Contains("already exists"));
}

TEST_CASE("an activation cache is reused when it matches and refused when it does not", "[experiment][word_index]") {
  auto model = load_model(test::models("stories260K"));
  auto o = small_options(model);
  o.layers = {-1, 3};
  test::TempDir dir;
  o.activations_cache = dir / "acts.h5";
  auto first = run_word_index_experiment(model, o);
  REQUIRE(test::have(o.activations_cache));
  auto reused = run_word_index_experiment(model, o);
  CHECK(reused.layer(3).val.accuracy == first.layer(3).val.accuracy);
  // The cache is an input of the result: its path and contents' SHA-256 are in the provenance.
  const auto inputs = reused.summary(model)["provenance"]["inputs"];
  REQUIRE(inputs.size() == 1);
  CHECK(inputs[0]["path"] == o.activations_cache);
  CHECK(inputs[0]["sha256"] == file_sha256(o.activations_cache));
  CHECK(inputs[0]["sha256"].get<std::string>().size() == 64);
  o.data.seed = 5;  // another dataset
  CHECK_THROWS_WITH(run_word_index_experiment(model, o), Catch::Contains("was made for another dataset"));
}

TEST_CASE("patchbay word-index --json prints the documented summary", "[cli][word_index]") {
  test::TempDir dir;
  auto r = test::run_cli("word-index --model '" + test::models("stories260K") +
                         "' --layers embed,1,3 --train-points 700 --val-prompts 50 --seed 3 --json --out '" + (dir / "wi.h5") + "'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["layers"].size() == 3);
  CHECK(j["layers"][2]["layer"] == "3");
  CHECK(j["baselines"]["abs_position"].is_number());
  CHECK(j["outputs"]["key_plot"].get<std::string>().ends_with("wi_key_plot.svg"));
  CHECK(r.err.empty());  // no progress output when stderr is not a terminal
  auto bad = test::run_cli("word-index --model '" + test::models("stories260K") + "' --word-lengths 30 --out '" + (dir / "x.h5") + "'");
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("no word of 30 tokens"));
  auto unknown = test::run_cli("word-index --variant nope --out '" + (dir / "y.h5") + "'");
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.err, Catch::Contains("unknown variant 'nope'"));
}

TEST_CASE("GPT-2-format prompts start with BOS by default, as TransformerLens's, and --no-bos drops it", "[cli][word_index][gpt2]") {
  const auto tokenizer_dir = test::models("gpt2");
  test::TempDir dir;
  const auto model_dir = dir / "gpt2-shape";
  export_gpt2_checkpoint(random_model(gpt2_like_config(1, 32, 2, 50257, 64), 4), model_dir);
  for (auto file : {"vocab.json", "merges.txt"})
    std::filesystem::copy_file(tokenizer_dir + "/" + file, model_dir + "/" + file);
  auto run = [&](const std::string& name, const std::string& flags) {
    auto r = test::run_cli("word-index --model '" + model_dir + "' --layers 0 --train-points 70 --val-prompts 10 --json --out '" +
                           (dir / name) + "'" + flags);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return std::make_pair(nlohmann::json::parse(r.out), H5Reader(dir / name).read_tensor("dataset/val/tokens"));
  };
  auto [with_bos, bos_tokens] = run("bos.h5", "");
  auto [without, plain_tokens] = run("nobos.h5", " --no-bos");
  CHECK(with_bos["dataset"]["bos"] == true);
  CHECK(without["dataset"]["bos"] == false);
  CHECK((bos_tokens.select(1, 0) == 50256).all().item<bool>());  // <|endoftext|>
  CHECK_FALSE((plain_tokens.select(1, 0) == 50256).any().item<bool>());
  // The same words after the same prefix, one position later.
  CHECK(at::equal(bos_tokens.narrow(1, 1, plain_tokens.size(1)), plain_tokens));

  // The probe on a paragraph of free text (stdin), through the GPT-2 tokenizer with BOS.
  const std::string paragraph = "Once upon a time, there was a little girl named Lily.\nShe liked to play in the park with her dog.";
  auto text = test::run_cli("probe-text --model '" + model_dir + "' --probe '" + (dir / "bos.h5") + "' --json --out '" + (dir / "text.h5") + "'",
                            paragraph);
  INFO(text.err);
  REQUIRE(text.exit_code == 0);
  const auto j = nlohmann::json::parse(text.out);
  const auto expected = load_tokenizer(model_dir)->encode(paragraph, true);
  REQUIRE(j["tokens"].size() == expected.size());
  CHECK(j["tokens"][0]["id"] == 50256);
  CHECK(j["tokens"][5]["id"] == expected[5]);
  for (const auto& t : j["tokens"]) {
    double total = 0;
    for (double p : t["probabilities"]) total += p;
    CHECK(total == Approx(1.0).margin(1e-4));
    CHECK(t["predicted"].get<int>() < static_cast<int>(t["probabilities"].size()));
  }
  CHECK(std::filesystem::exists(dir / "text_report.html"));
  CHECK(H5Reader(dir / "text.h5").attribute("kind") == std::optional<std::string>("probe_text"));
}

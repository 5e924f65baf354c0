// The command-line contract: tokenize and cache outputs, exit codes and error lines.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "../support/cli.hpp"
#include "../support/paths.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/mapped_file.hpp"
#include "patchbay/io/safetensors.hpp"

using namespace patchbay;
using test::run_cli;

namespace {
// Feeds the first `n` reference cases through `patchbay tokenize` and compares line by line.
void check_tokenize_cli(const std::string& model_dir, const std::string& cases_path, bool bos, std::size_t n) {
  auto cases = nlohmann::json::parse(read_text_file(cases_path));
  std::string input;
  for (std::size_t i = 0; i < n && i < cases.size(); ++i) input += cases[i]["text"].dump() + "\n";
  auto r = run_cli("tokenize --model '" + model_dir + "'" + (bos ? " --bos" : ""), input);
  REQUIRE(r.exit_code == 0);
  std::istringstream lines(r.out);
  std::string line;
  std::size_t i = 0;
  for (; std::getline(lines, line); ++i) {
    INFO("case " << i << ": " << cases[i]["text"].dump());
    CHECK(nlohmann::json::parse(line) == cases[i]["ids"]);
  }
  CHECK(i == std::min(n, cases.size()));
}
}  // namespace

TEST_CASE("patchbay tokenize reproduces reference ids", "[cli][tokenizer]") {
  SECTION("llama2.c with --bos") {
    check_tokenize_cli(test::models("stories260K"), test::reference("tok512_cases.json"), true, 200);
  }
  SECTION("GPT-2 from a directory with tokenizer files only") {
    check_tokenize_cli(test::models("gpt2"), test::reference("gpt2_tokenizer_cases.json"), false, 200);
  }
  SECTION("a line that is not a JSON string is a runtime error naming the line") {
    auto r = run_cli("tokenize --model '" + test::models("stories260K") + "'", "\"ok\"\nnot json\n");
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::StartsWith("error: stdin line 2: expected a JSON string"));
  }
}

TEST_CASE("patchbay cache writes every hook with TransformerLens shapes matching the reference", "[cli][cache]") {
  const auto ref = test::reference("tiny-gpt2");
  auto inputs = nlohmann::json::parse(read_text_file(ref + "/inputs.json"));
  std::string ids;
  for (auto id : inputs["sequences"][0]) ids += std::to_string(id.get<int>()) + " ";
  test::TempDir dir;
  const auto out = dir / "cache.h5";
  auto r = run_cli("cache --model '" + ref + "' --ids '" + ids + "' --out '" + out + "'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);

  H5Reader file(out);
  SafetensorsFile expected(ref + "/expected.safetensors");
  std::size_t compared = 0, reference_tensors = 0;
  for (const auto& [key, info] : expected.tensors()) {
    if (key.rfind("seq0/", 0) != 0) continue;
    ++reference_tensors;
    auto name = key.substr(5);
    INFO(name);
    REQUIRE(file.has(name));
    auto ours = file.read_tensor(name);
    REQUIRE(ours.size(0) == 1);  // batch dimension
    auto diff = (ours[0] - expected.load_f32(key)).abs();
    if (name.ends_with("hook_attn_scores")) diff = diff.masked_select(at::ones({9, 9}, at::kBool).tril().expand_as(diff));
    CHECK(diff.max().item<float>() <= 1e-4f);
    ++compared;
  }
  CHECK(compared == reference_tensors);  // every hook of sequence 0, with the norms of every block
  CHECK(compared >= 40);
  CHECK(file.attribute("model") == std::optional<std::string>("tiny-gpt2"));

  SECTION("existing results are not overwritten without --force") {
    auto again = run_cli("cache --model '" + ref + "' --ids '1 2' --hooks hook_embed --out '" + out + "'");
    CHECK(again.exit_code == 1);
    CHECK_THAT(again.err, Catch::Contains("already exists; pass --force"));
    CHECK(H5Reader(out).shape("logits")[1] == 9);
    auto forced = run_cli("cache --model '" + ref + "' --ids '1 2' --hooks hook_embed --out '" + out + "' --force");
    CHECK(forced.exit_code == 0);
    H5Reader replaced(out);
    CHECK(replaced.shape("logits")[1] == 2);
    CHECK(replaced.datasets() == std::vector<std::string>{"hook_embed", "logits", "tokens"});
  }
}

TEST_CASE("command-line errors exit 2 with usage, runtime failures exit 1 with one line", "[cli][errors]") {
  SECTION("unknown option") {
    auto r = run_cli("tokenize --bogus");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--bogus") && Catch::Contains("Usage:") && Catch::Contains("--bos"));
  }
  SECTION("no subcommand") { CHECK(run_cli("").exit_code == 2); }
  SECTION("missing required option") {
    auto r = run_cli("cache --ids '1 2'");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--out is required") && Catch::Contains("Usage:"));
  }
  SECTION("missing model directory") {
    auto r = run_cli("cache --model /nonexistent --ids '1' --out /tmp/x.h5");
    CHECK(r.exit_code == 1);
    CHECK(r.err == "error: model directory '/nonexistent' does not exist\n");
  }
  SECTION("unknown hook lists what exists") {
    test::TempDir dir;
    auto r = run_cli("cache --model '" + test::reference("tiny-gpt2") + "' --ids '1 2' --hooks blocks.7.hook_z --out '" +
                     (dir / "x.h5") + "'");
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("unknown hook 'blocks.7.hook_z'") && Catch::Contains("blocks.{0..1}.attn.hook_z"));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(test::have(dir / "x.h5"));
  }
  SECTION("token ids out of range") {
    test::TempDir dir;
    auto r = run_cli("cache --model '" + test::reference("tiny-gpt2") + "' --ids '1 999' --out '" + (dir / "x.h5") + "'");
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("token ids must lie in [0, 512)"));
    CHECK(std::filesystem::is_empty(dir.path));  // no temporary file left behind either
  }
  SECTION("prompt longer than the context") {
    std::string ids;
    for (int i = 0; i < 40; ++i) ids += "1 ";
    test::TempDir dir;
    auto r = run_cli("cache --model '" + test::reference("tiny-gpt2") + "' --ids '" + ids + "' --out '" + (dir / "x.h5") + "'");
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("prompt of 40 tokens is longer than the model's context of 32 tokens"));
  }
}

TEST_CASE("patchbay run prints the top next tokens of the default model", "[cli][smoke]") {
  auto r = run_cli("run --model '" + test::models("stories260K") + "' --top 3");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("5 layers, d_model 64, 8 heads (4 kv)") && Catch::Contains("top next tokens"));
}

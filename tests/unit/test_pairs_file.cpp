// Pairs from JSON Lines: texts through the model's tokenizer with BOS, ids as given, answers of
// exactly one token; every malformed line refused with its line number and what was wrong.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <sstream>

#include "../support/paths.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/data/pairs_file.hpp"
#include "patchbay/data/word_list.hpp"
#include "patchbay/model/load.hpp"

using namespace patchbay;

namespace {
std::vector<PromptPair> parse(const std::string& text, const PairsFileOptions& o) {
  std::istringstream in(text);
  return parse_pairs(in, "pairs.jsonl", o);
}
PairsFileOptions ids_only() { return {.vocab_size = 100, .max_tokens = 16}; }
}  // namespace

TEST_CASE("pairs from text go through the model's tokenizer with BOS; ids are used exactly as given", "[pairs]") {
  const auto gpt2 = load_tokenizer(test::models("gpt2"));
  const PairsFileOptions o{.tokenizer = gpt2.get(), .vocab_size = gpt2->vocab_size(), .max_tokens = 1024};
  const auto pairs = parse(R"({"clean": "When Mary and John went to the store, John gave a drink to", "corrupted": "When Mary and John went to the store, Mary gave a drink to", "correct": " Mary", "incorrect": " John"}
{"clean_ids": [50256, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], "corrupted_ids": [50256, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 99], "correct_id": 5, "incorrect_id": 6, "position": 14}
)", o);
  REQUIRE(pairs.size() == 2);
  const auto expected = gpt2->encode("When Mary and John went to the store, John gave a drink to", true);
  CHECK(pairs[0].clean.tokens == expected);
  CHECK(pairs[0].clean.tokens.front() == 50256);  // BOS
  CHECK(pairs[0].target == static_cast<std::int32_t>(expected.size()) - 1);
  CHECK(pairs[0].correct == gpt2->encode_continuation(" Mary").front());
  CHECK(pairs[1].clean.tokens.size() == 15);
  CHECK(pairs[1].corrupted.tokens.back() == 99);
  CHECK(pairs[1].correct == 5);
  // Written back as ids, a pair reads back the same.
  const auto again = parse(pair_to_json_line(pairs[0]) + "\n", o);
  CHECK(again[0].clean.tokens == pairs[0].clean.tokens);
  CHECK(again[0].incorrect == pairs[0].incorrect);
  CHECK(again[0].target == pairs[0].target);
  // Without BOS the texts are one token shorter.
  auto no_bos = o;
  no_bos.bos = false;
  CHECK(parse(R"({"clean": "a b", "corrupted": "a c"})", no_bos)[0].clean.tokens == gpt2->encode("a b", false));
}

TEST_CASE("every malformed pairs line is refused with its line number", "[pairs][errors]") {
  const auto o = ids_only();
  auto refused = [&](const std::string& text, const std::string& message) {
    INFO(text);
    CHECK_THROWS_WITH(parse(text, o), Catch::Contains(message));
  };
  const std::string good = R"({"clean_ids": [1, 2, 3], "corrupted_ids": [1, 4, 3]})";
  SECTION("invalid JSON") { refused(good + "\n{\"clean_ids\": [1, 2,\n", "pairs.jsonl line 2: invalid JSON"); }
  SECTION("not an object") { refused("[1, 2]", "line 1: expected a JSON object, got array"); }
  SECTION("missing fields") {
    refused(R"({"clean_ids": [1, 2, 3]})", "line 1: missing 'corrupted' (or 'corrupted_ids')");
    refused(good + "\n\n" + R"({"corrupted_ids": [1, 2, 3]})", "line 3: missing 'clean' (or 'clean_ids')");
  }
  SECTION("both text and ids") { refused(R"({"clean": "x", "clean_ids": [1], "corrupted_ids": [2]})", "line 1: give 'clean' or 'clean_ids', not both"); }
  SECTION("an unknown field") { refused(R"({"clean_ids": [1], "corrupted_ids": [2], "answer": 3})", "line 1: unknown field 'answer'"); }
  SECTION("different token counts") { refused(R"({"clean_ids": [1, 2, 3], "corrupted_ids": [1, 2]})", "line 1: clean has 3 tokens and corrupted 2"); }
  SECTION("ids outside the vocabulary") {
    refused(R"({"clean_ids": [1, 100, 3], "corrupted_ids": [1, 2, 3]})", "line 1: 'clean_ids' holds token id 100, outside the vocabulary 0..99");
    refused(R"({"clean_ids": [1, -1], "corrupted_ids": [1, 2]})", "token id -1, outside");
    refused(R"({"clean_ids": [1, 2.5], "corrupted_ids": [1, 2]})", "holds 2.5, not a token id");
    refused(good + "\n" + R"({"clean_ids": [1, 2, 3], "corrupted_ids": [1, 2, 3], "correct_id": 100})", "line 2: 'correct_id' is 100, not a token id in 0..99");
  }
  SECTION("a position outside the prompt") {
    refused(R"({"clean_ids": [1, 2, 3], "corrupted_ids": [1, 4, 3], "position": 3})", "line 1: position 3 is outside the prompt of 3 tokens");
    refused(R"({"clean_ids": [1, 2, 3], "corrupted_ids": [1, 4, 3], "position": -4})", "position -4 is outside");
  }
  SECTION("pairs that disagree on length or target") {
    refused(good + "\n" + R"({"clean_ids": [1, 2, 3, 4], "corrupted_ids": [1, 4, 3, 4]})", "line 2: 4 tokens with the target at 3, but line 1 has 3 tokens");
    refused(good + "\n" + R"({"clean_ids": [1, 2, 3], "corrupted_ids": [1, 4, 3], "position": 1})", "line 2: 3 tokens with the target at 1");
  }
  SECTION("longer than the model's context") {
    refused(R"({"clean_ids": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], "corrupted_ids": [2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2]})", "more than the model's context of 16");
  }
  SECTION("no pairs") {
    CHECK_THROWS_WITH(parse("", o), Catch::Contains("pairs.jsonl holds no pairs"));
    CHECK_THROWS_WITH(parse("\n  \n", o), Catch::Contains("holds no pairs"));
  }
  SECTION("text without a tokenizer") { refused(R"({"clean": "a", "corrupted_ids": [1]})", "line 1: 'clean' is text but the model has no tokenizer"); }
  SECTION("answers for some pairs only") {
    CHECK_THROWS_WITH(parse(good + "\n" + R"({"clean_ids": [1, 2, 3], "corrupted_ids": [1, 4, 3], "correct_id": 5})", o),
                      Catch::Contains("some pairs give a correct answer and some do not"));
  }
  CHECK_THROWS_WITH(read_pairs_file("/nonexistent/pairs.jsonl", o), Catch::Contains("cannot read the pairs file '/nonexistent/pairs.jsonl'"));
}

TEST_CASE("an answer given as text must be exactly one token", "[pairs][errors]") {
  const auto llama = load_tokenizer(test::models("stories260K"));
  const PairsFileOptions o{.tokenizer = llama.get(), .vocab_size = llama->vocab_size(), .max_tokens = 512};
  const auto ok = parse(R"({"clean": "Lily went to the park. Then Lily", "corrupted": "Lily went to the park. Then she", "correct": " saw"})", o);
  CHECK(ok[0].correct == llama->encode_continuation(" saw").front());
  CHECK(ok[0].clean.tokens.front() == llama->bos_id().value());
  CHECK_THROWS_WITH(parse(R"({"clean": "Then Lily", "corrupted": "Then she", "correct": " elephantine"})", o),
                    Catch::Contains("line 1: answer 'correct' = \" elephantine\" is") && Catch::Contains("tokens; an answer must be exactly one token"));
}

TEST_CASE("word-index pairs hold only the probe run's validation words, whatever their own seed", "[pairs]") {
  const auto llama = load_tokenizer(test::models("stories260K"));
  PairOptions o;
  o.clean_split = {2, 1};
  o.corrupted_split = {1, 1, 1};
  o.n_pairs = 40;
  o.split_seed = 0;  // the probe's run
  const auto lists = load_word_lists(*llama, o.dictionary, 0);
  std::set<std::vector<std::int64_t>> val, train;
  for (int len : {1, 2}) {
    for (const auto& w : lists.val.of_length(len)) val.insert(w.tokens);
    for (const auto& w : lists.train.of_length(len)) train.insert(w.tokens);
  }
  std::size_t words = 0;
  for (std::uint64_t seed : {0, 1, 7}) {
    o.seed = seed;  // another seed draws other pairs, never other (training) words
    for (const auto& pair : token_aligned_pairs(*llama, o))
      for (const auto* prompt : {&pair.clean, &pair.corrupted}) {
        std::map<int, std::vector<std::int64_t>> by_word;
        for (std::size_t i = 0; i < prompt->tokens.size(); ++i)
          if (prompt->unit[i] >= 0) by_word[prompt->unit[i]].push_back(prompt->tokens[i]);
        for (const auto& [unit, tokens] : by_word) {
          ++words;
          CHECK(val.count(tokens) == 1);
          CHECK(train.count(tokens) == 0);
        }
      }
  }
  CHECK(words == 3 * 40 * 5);
}

// The word-index dataset: labels, determinism, train/val word split, variants.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "../support/paths.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/data/word_index.hpp"
#include "patchbay/model/load.hpp"

using namespace patchbay;

namespace {
std::shared_ptr<const Tokenizer> stories_tokenizer() {
  auto tokenizer = load_tokenizer(test::models("stories260K"));
  REQUIRE(tokenizer != nullptr);
  return tokenizer;
}

// Token sequences of every unit in a split.
std::set<std::vector<std::int64_t>> unit_sequences(const WordIndexSplit& split) {
  std::set<std::vector<std::int64_t>> out;
  for (const auto& p : split.prompts) {
    std::vector<std::int64_t> cur;
    for (std::size_t i = 0; i < p.tokens.size(); ++i) {
      if (p.unit[i] < 0) continue;
      if (p.first[i]) cur.clear();
      cur.push_back(p.tokens[i]);
      if (p.last[i]) out.insert(cur);
    }
  }
  return out;
}
}  // namespace

TEST_CASE("word-index prompts carry consistent labels on every token", "[data][word_index]") {
  auto tok = stories_tokenizer();
  WordIndexOptions o;
  o.unit_lengths = {2, 3, 4};
  o.bos = true;
  o.train_points = 700;
  o.val_prompts = 50;
  auto ds = WordIndexDataset::generate(*tok, o);
  CHECK(ds.train.points.size() == 700);
  CHECK(ds.train.prompts.size() == 100);
  CHECK(ds.val.prompts.size() == 50);
  CHECK(ds.val.points.size() == 350);
  auto prefix = tok->encode(kDefaultPrefix, /*bos=*/true);
  for (const auto& p : ds.train.prompts) {
    REQUIRE(std::equal(prefix.begin(), prefix.end(), p.tokens.begin()));
    CHECK(p.prefix_length == static_cast<std::int32_t>(prefix.size()));
    int expected_unit = -1;
    for (std::size_t i = 0; i < p.tokens.size(); ++i) {
      if (p.first[i]) ++expected_unit;
      CHECK(p.unit[i] == (i < prefix.size() ? -1 : expected_unit));
      if (i >= prefix.size()) {
        CHECK(p.first[i] == (p.pos_in_unit[i] == 0));
        CHECK(p.space[i] == p.first[i]);  // each word's first token carries its leading space
        CHECK(space_count(p, static_cast<std::int32_t>(i)) == p.unit[i] + 1);
      }
    }
    CHECK(expected_unit == 6);
  }
  for (const auto& pt : ds.val.points) {
    const auto& p = ds.val.prompts[pt.prompt];
    CHECK(p.last[pt.position]);
    CHECK(p.unit[pt.position] == pt.label);
    int len = p.pos_in_unit[pt.position] + 1;
    CHECK((len >= 2 && len <= 4));
  }
  // The whole prompt decodes back to prefix + words, and re-tokenizes to the same ids.
  CHECK(tok->encode(ds.val.prompts[0].text, true) == ds.val.prompts[0].tokens);
}

TEST_CASE("the same seed gives identical datasets; validation never reuses a training word", "[data][word_index]") {
  auto tok = stories_tokenizer();
  WordIndexOptions o;
  o.unit_lengths = {2, 3, 4};
  o.train_points = 1400;
  o.val_prompts = 200;
  o.seed = 11;
  auto a = WordIndexDataset::generate(*tok, o), b = WordIndexDataset::generate(*tok, o);
  REQUIRE(a.train.prompts.size() == b.train.prompts.size());
  for (std::size_t i = 0; i < a.train.prompts.size(); ++i) CHECK(a.train.prompts[i].tokens == b.train.prompts[i].tokens);
  o.seed = 12;
  auto c = WordIndexDataset::generate(*tok, o);
  CHECK(a.train.prompts[0].tokens != c.train.prompts[0].tokens);

  auto train = unit_sequences(a.train), val = unit_sequences(a.val);
  std::vector<std::vector<std::int64_t>> shared;
  std::set_intersection(train.begin(), train.end(), val.begin(), val.end(), std::back_inserter(shared));
  CHECK(shared.empty());
  CHECK(train.size() > 500);
}

TEST_CASE("balanced positions give every word index the same count at each position", "[data][word_index]") {
  auto tok = stories_tokenizer();
  WordIndexOptions o;
  o.unit_lengths = {2, 3, 4};
  o.train_points = 2000;
  o.val_prompts = 300;
  o.balance_positions = true;
  auto ds = WordIndexDataset::generate(*tok, o);
  CHECK(ds.train.points.size() >= 2000);
  CHECK(ds.val.points.size() >= 300 * 7);
  for (const auto* split : {&ds.train, &ds.val}) {
    std::map<int, std::map<int, int>> counts;  // position -> label -> count
    for (const auto& pt : split->points) counts[pt.position][pt.label]++;
    CHECK(counts.size() > 5);
    for (const auto& [pos, by_label] : counts) {
      INFO("position " << pos);
      CHECK(by_label.size() >= 2);
      for (const auto& [label, n] : by_label) CHECK(n == by_label.begin()->second);
    }
  }
}

TEST_CASE("variants: random tokens, counting schemes, and clear errors", "[data][word_index]") {
  auto tok = stories_tokenizer();
  WordIndexOptions o;
  o.unit_lengths = {2, 3};
  o.train_points = 70;
  o.val_prompts = 5;
  SECTION("random tokens without spaces carry no space marker") {
    o.source = UnitSource::RandomTokensUnspaced;
    auto ds = WordIndexDataset::generate(*tok, o);
    for (const auto& p : ds.train.prompts)
      for (std::size_t i = p.prefix_length; i < p.tokens.size(); ++i) CHECK_FALSE(p.space[i]);
  }
  SECTION("random tokens with spaces mark each word's first token") {
    o.source = UnitSource::RandomTokensSpaced;
    auto ds = WordIndexDataset::generate(*tok, o);
    for (const auto& p : ds.train.prompts)
      for (std::size_t i = p.prefix_length; i < p.tokens.size(); ++i) CHECK(p.space[i] == p.first[i]);
  }
  SECTION("code lines end in a newline token") {
    o.scheme = CountingScheme::CodeLines;
    o.prefix = prefix_named("code");
    auto ds = WordIndexDataset::generate(*tok, o);
    for (const auto& pt : ds.train.points) CHECK(tok->token_text(ds.train.prompts[pt.prompt].tokens[pt.position]) == "\n");
  }
  SECTION("sentences end in a full stop, list items in a comma") {
    o.scheme = CountingScheme::Sentences;
    auto ds = WordIndexDataset::generate(*tok, o);
    for (const auto& pt : ds.train.points) CHECK(tok->token_text(ds.train.prompts[pt.prompt].tokens[pt.position]) == ".");
    o.scheme = CountingScheme::ListItems;
    ds = WordIndexDataset::generate(*tok, o);
    for (const auto& pt : ds.train.points) CHECK(tok->token_text(ds.train.prompts[pt.prompt].tokens[pt.position]) == ",");
  }
  SECTION("a word length with no words is refused, naming what exists") {
    o.unit_lengths = {30};
    CHECK_THROWS_WITH(WordIndexDataset::generate(*tok, o),
                      Catch::Contains("has no word of 30 tokens") && Catch::Contains("tokens:"));
  }
  SECTION("unknown prefix names list the known ones") {
    CHECK_THROWS_WITH(prefix_named("nope"), Catch::Contains("known: ") && Catch::Contains("default"));
    CHECK(prefix_named("empty").empty());
    CHECK(prefix_named("default") == kDefaultPrefix);
  }
}

// Both tokenizers reproduce every case produced by independent implementations, exactly.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "../support/paths.hpp"
#include "patchbay/io/mapped_file.hpp"
#include "patchbay/tokenizer/gpt2_bpe.hpp"
#include "patchbay/tokenizer/llama2c.hpp"

using namespace patchbay;

namespace {
// Returns the number of cases; every mismatch is reported with its text.
std::size_t check_cases(const Tokenizer& tok, const std::string& cases_path, bool bos) {
  auto cases = nlohmann::json::parse(read_text_file(cases_path));
  std::size_t mismatches = 0;
  for (const auto& c : cases) {
    auto text = c["text"].get<std::string>();
    auto expected = c["ids"].get<std::vector<std::int64_t>>();
    auto got = tok.encode(text, bos);
    if (got != expected && ++mismatches <= 10) {
      INFO("text: " << nlohmann::json(text).dump() << "\nexpected " << nlohmann::json(expected).dump() << "\ngot      "
                    << nlohmann::json(got).dump());
      CHECK(got == expected);
    }
  }
  CHECK(mismatches == 0);
  return cases.size();
}
}  // namespace

TEST_CASE("GPT-2 BPE reproduces all reference cases", "[reference][tokenizer][gpt2]") {
  auto dir = test::models("gpt2");
  auto tok = Gpt2Tokenizer::from_files(dir + "/vocab.json", dir + "/merges.txt");
  CHECK(tok->vocab_size() == 50257);
  CHECK(check_cases(*tok, test::reference("gpt2_tokenizer_cases.json"), /*bos=*/false) == 3320);
}

TEST_CASE("llama2.c tokenizer reproduces all reference cases", "[reference][tokenizer][llama]") {
  auto path = test::models("stories260K/tokenizer.bin");
  auto tok = Llama2cTokenizer::from_file(path);
  CHECK(tok->vocab_size() == 512);
  CHECK(check_cases(*tok, test::reference("tok512_cases.json"), /*bos=*/true) == 1208);
}

TEST_CASE("decoding inverts encoding and the word view follows leading spaces", "[tokenizer]") {
  const std::string text = "The quick brown fox, naïve café 2023!\nWhen";
  SECTION("gpt2") {
    auto dir = test::models("gpt2");
    auto tok = Gpt2Tokenizer::from_files(dir + "/vocab.json", dir + "/merges.txt");
    auto ids = tok->encode(text);
    CHECK(tok->decode(ids) == text);
    auto words = tok->encode(" apple pie");
    REQUIRE(words.size() == 2);
    CHECK(tok->begins_word(words[0]));
    CHECK(tok->begins_word(words[1]));
    CHECK_FALSE(tok->begins_word(tok->encode("apple")[0]));
    CHECK(tok->decode(tok->encode(text, /*bos=*/true)) == text);
  }
  SECTION("llama2c") {
    auto path = test::models("stories260K/tokenizer.bin");
    auto tok = Llama2cTokenizer::from_file(path);
    auto ids = tok->encode(text, /*bos=*/true);
    CHECK(ids.front() == 1);
    CHECK(tok->decode(ids) == text);  // byte fallback restores the non-ASCII characters
    CHECK(tok->begins_word(ids[1]));   // the dummy-prefix space starts the first word
  }
}

TEST_CASE("continuation encoding matches in-context tokenization of words", "[tokenizer]") {
  // A prompt assembled word by word must equal the tokenization of the whole text.
  const std::vector<std::string> words = {"apple", "dramatisation", "sick", "alpaca", "tokenizer"};
  std::string text = "When";
  for (const auto& w : words) text += " " + w;
  SECTION("gpt2") {
    auto dir = test::models("gpt2");
    auto tok = Gpt2Tokenizer::from_files(dir + "/vocab.json", dir + "/merges.txt");
    auto assembled = tok->encode("When");
    for (const auto& w : words) for (auto id : tok->encode_word(w)) assembled.push_back(id);
    CHECK(assembled == tok->encode(text));
  }
  SECTION("llama2c") {
    auto path = test::models("stories260K/tokenizer.bin");
    auto tok = Llama2cTokenizer::from_file(path);
    auto assembled = tok->encode("When", /*bos=*/true);
    for (const auto& w : words) for (auto id : tok->encode_word(w)) assembled.push_back(id);
    CHECK(assembled == tok->encode(text, /*bos=*/true));
    CHECK(tok->encode_continuation("x\n").front() != tok->encode(" ").front());  // no dummy prefix
  }
}

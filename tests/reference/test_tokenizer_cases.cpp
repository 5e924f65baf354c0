// Both tokenizers reproduce every case produced by independent implementations, exactly.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>

#include <fmt/format.h>
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

namespace {
// llama2.c's encode as it is written there: parse tokenizer.bin, one token per code point (byte
// fallback), then the O(n^2) loop that merges the best-scoring adjacent pair, leftmost on ties.
// The library's heap-based merge must give exactly this.
struct NaiveLlama2c {
  std::vector<std::string> pieces;
  std::vector<float> scores;

  explicit NaiveLlama2c(const std::string& bytes) {
    std::size_t at = 4;
    while (at < bytes.size()) {
      float score;
      std::int32_t len;
      std::memcpy(&score, bytes.data() + at, 4);
      std::memcpy(&len, bytes.data() + at + 4, 4);
      pieces.push_back(bytes.substr(at + 8, static_cast<std::size_t>(len)));
      scores.push_back(score);
      at += 8 + static_cast<std::size_t>(len);
    }
  }
  std::int64_t lookup(const std::string& piece) const {
    for (std::size_t id = 0; id < pieces.size(); ++id)
      if (pieces[id] == piece) return static_cast<std::int64_t>(id);
    return -1;
  }
  std::vector<std::int64_t> encode(const std::string& text) const {
    std::vector<std::int64_t> tokens{1};
    if (!text.empty()) tokens.push_back(lookup(" "));
    for (std::size_t i = 0; i < text.size();) {
      std::size_t len = 1;
      while (i + len < text.size() && len < 4 && (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80) ++len;
      const auto id = lookup(text.substr(i, len));
      if (id >= 0) tokens.push_back(id);
      else for (std::size_t b = 0; b < len; ++b) tokens.push_back(3 + static_cast<unsigned char>(text[i + b]));
      i += len;
    }
    while (true) {
      float best = -1e10f;
      std::int64_t best_id = -1;
      std::size_t best_i = 0;
      for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
        const auto id = lookup(pieces[static_cast<std::size_t>(tokens[i])] + pieces[static_cast<std::size_t>(tokens[i + 1])]);
        if (id >= 0 && scores[static_cast<std::size_t>(id)] > best) {
          best = scores[static_cast<std::size_t>(id)];
          best_id = id;
          best_i = i;
        }
      }
      if (best_id < 0) return tokens;
      tokens[best_i] = best_id;
      tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best_i) + 1);
    }
  }
};

std::string tokenizer_bytes(const std::vector<std::pair<std::string, float>>& pieces) {
  std::string bytes(4, '\0');
  const std::int32_t max_len = 16;
  std::memcpy(bytes.data(), &max_len, 4);
  for (const auto& [piece, score] : pieces) {
    const auto len = static_cast<std::int32_t>(piece.size());
    bytes.append(reinterpret_cast<const char*>(&score), 4).append(reinterpret_cast<const char*>(&len), 4).append(piece);
  }
  return bytes;
}

// Texts of `alphabet` characters (some multi-byte), up to `max_len` of them.
std::vector<std::string> random_texts(const std::vector<std::string>& alphabet, int count, int max_len, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> texts;
  for (int t = 0; t < count; ++t) {
    std::string text;
    const int len = static_cast<int>(rng() % static_cast<unsigned>(max_len + 1));
    for (int i = 0; i < len; ++i) text += alphabet[rng() % alphabet.size()];
    texts.push_back(text);
  }
  return texts;
}
}  // namespace

TEST_CASE("llama2.c heap merge equals llama2.c's quadratic loop", "[tokenizer][llama]") {
  SECTION("stories260K on random text") {
    const auto bytes = read_text_file(test::models("stories260K/tokenizer.bin"));
    const NaiveLlama2c naive(bytes);
    const auto tok = Llama2cTokenizer::from_bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "tok");
    for (const auto& text : random_texts({"a", "e", "t", "h", "o", "n", "s", " ", " ", ".", "\n", "é", "€", "\xff"}, 300, 120, 7))
      REQUIRE(tok->encode(text, /*bos=*/true) == naive.encode(text));
  }
  SECTION("a vocabulary full of ties and chains of merges") {
    std::vector<std::pair<std::string, float>> pieces{{"<unk>", 0}, {"<s>", 0}, {"</s>", 0}};
    for (int b = 0; b < 256; ++b) pieces.emplace_back(fmt::format("<0x{:02X}>", b), 0);
    for (const auto& [p, s] : std::vector<std::pair<std::string, float>>{
             {" ", -1}, {"a", -1}, {"b", -1}, {"c", -1}, {"ab", -2}, {"bc", -2}, {"ca", -2}, {"aa", -2}, {"abc", -3},
             {"aaa", -2}, {"aaaa", -2}, {" a", -2}, {"bca", -5}, {"cab", -3}, {"abca", -1e11f}, {"cc", NAN}})
      pieces.emplace_back(p, s);
    const auto bytes = tokenizer_bytes(pieces);
    const NaiveLlama2c naive(bytes);
    const auto tok = Llama2cTokenizer::from_bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "ties");
    for (const auto& text : random_texts({"a", "b", "c", " ", "d"}, 2000, 40, 11))
      REQUIRE(tok->encode(text, /*bos=*/true) == naive.encode(text));
  }
}

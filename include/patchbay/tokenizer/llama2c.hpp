#pragma once
// The llama2.c tokenizer (tokenizer.bin): a sentencepiece-style vocabulary with scores.
// Encoding follows llama2.c's `encode`: optional BOS (id 1), a dummy-prefix space, one token
// per UTF-8 code point with byte fallback at id byte + 3, then greedy merging of the adjacent
// pair whose merged piece has the best score (leftmost on ties), in O(n log n).
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "patchbay/tokenizer/tokenizer.hpp"

namespace patchbay {

class Llama2cTokenizer : public Tokenizer {
 public:
  static constexpr std::int64_t kBos = 1;
  static constexpr std::int64_t kEos = 2;
  static constexpr std::int64_t kByteOffset = 3;  // <0x00> is id 3

  // Throws FormatError naming the file when it is missing, truncated or malformed.
  static std::shared_ptr<Llama2cTokenizer> from_file(const std::string& path);
  // From the file's bytes (fuzzing and unit-test entry point).
  static std::shared_ptr<Llama2cTokenizer> from_bytes(const std::uint8_t* data, std::size_t size,
                                                      const std::string& what);

  std::vector<std::int64_t> encode(std::string_view text, bool bos = false) const override;
  std::vector<std::int64_t> encode_continuation(std::string_view text) const override;
  std::string decode(std::span<const std::int64_t> ids) const override;
  std::string token_text(std::int64_t id) const override;
  bool begins_word(std::int64_t id) const override;
  std::int64_t vocab_size() const override { return static_cast<std::int64_t>(pieces_.size()); }
  std::optional<std::int64_t> bos_id() const override { return kBos; }
  std::string kind() const override { return "llama2c"; }

  float score(std::int64_t id) const { return scores_.at(static_cast<std::size_t>(id)); }

 private:
  Llama2cTokenizer() = default;
  std::int64_t lookup(const std::string& piece) const;  // -1 when absent
  std::vector<std::int64_t> encode_pieces(std::string_view text, bool bos, bool dummy_prefix) const;
  void merge_greedily(std::vector<std::int64_t>& tokens) const;  // in place

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, std::int64_t> piece_to_id_;
};

}  // namespace patchbay

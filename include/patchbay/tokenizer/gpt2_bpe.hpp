#pragma once
// GPT-2's byte-level BPE: the GPT-2 pre-tokenization pattern splits text into chunks, each
// chunk's bytes are mapped to printable code points (bytes_to_unicode), then merged by rank.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "patchbay/tokenizer/tokenizer.hpp"

namespace patchbay {

class Gpt2Tokenizer : public Tokenizer {
 public:
  // Throws FormatError naming the file for missing files, malformed JSON or merges, ids out of range.
  static std::shared_ptr<Gpt2Tokenizer> from_files(const std::string& vocab_json, const std::string& merges_txt);
  // From file contents (the fuzzing and unit-test entry point). `what` names the source in errors.
  static std::shared_ptr<Gpt2Tokenizer> from_strings(const std::string& vocab_json, const std::string& merges_txt,
                                                     const std::string& what);

  std::vector<std::int64_t> encode(std::string_view text, bool bos = false) const override;
  std::vector<std::int64_t> encode_continuation(std::string_view text) const override;
  std::string decode(std::span<const std::int64_t> ids) const override;
  std::string token_text(std::int64_t id) const override;
  bool begins_word(std::int64_t id) const override;
  std::int64_t vocab_size() const override { return static_cast<std::int64_t>(id_to_token_.size()); }
  std::optional<std::int64_t> bos_id() const override { return bos_; }
  std::string kind() const override { return "gpt2-bpe"; }

 private:
  Gpt2Tokenizer() = default;
  // BPE of one pre-tokenized chunk (already in byte-to-unicode form), appended to `out`.
  void bpe(const std::string& chunk, std::vector<std::int64_t>& out) const;

  std::unordered_map<std::string, std::int64_t> token_to_id_;
  std::vector<std::string> id_to_token_;  // byte-to-unicode form
  std::map<std::pair<std::string, std::string>, int> merge_rank_;
  std::optional<std::int64_t> bos_;  // <|endoftext|>, which GPT-2 uses as BOS
  mutable std::unordered_map<std::string, std::vector<std::int64_t>> cache_;
  mutable std::mutex cache_mutex_;
};

// Splits text with GPT-2's pattern:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Invalid UTF-8 bytes are kept as single-byte chunks of their own category (other).
std::vector<std::string> gpt2_pretokenize(std::string_view text);

}  // namespace patchbay

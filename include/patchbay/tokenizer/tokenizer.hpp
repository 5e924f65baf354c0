#pragma once
// Tokenizer interface shared by the GPT-2 byte-level BPE and the llama2.c tokenizer.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids for `text`; with `bos`, the beginning-of-sequence id is prepended.
  virtual std::vector<std::int64_t> encode(std::string_view text, bool bos = false) const = 0;
  // Tokens of `text` as it appears after other text: no BOS, no dummy prefix. Prompts are
  // assembled piece by piece from these, so every token's word is known.
  virtual std::vector<std::int64_t> encode_continuation(std::string_view text) const = 0;
  // Tokens of " word" mid-sentence.
  std::vector<std::int64_t> encode_word(std::string_view word) const {
    std::string text;
    text.reserve(word.size() + 1);
    text.push_back(' ');
    text.append(word);
    return encode_continuation(text);
  }
  // Text of a token sequence (the BOS token decodes to nothing). Throws InputError for ids out of range.
  virtual std::string decode(std::span<const std::int64_t> ids) const = 0;
  // The text one token stands for, as it would appear inside decoded text.
  virtual std::string token_text(std::int64_t id) const = 0;
  // Word-aware view: whether the token begins a new word (a leading space, or "▁").
  virtual bool begins_word(std::int64_t id) const = 0;

  virtual std::int64_t vocab_size() const = 0;
  virtual std::optional<std::int64_t> bos_id() const = 0;
  virtual std::string kind() const = 0;  // "gpt2-bpe" or "llama2c"
};

}  // namespace patchbay

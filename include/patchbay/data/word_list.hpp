#pragma once
// The dictionary the word-index prompts draw from: lowercase alphabetic words, tokenized with
// the model's own tokenizer as " word", grouped by token count, split into train and
// validation words so no validation prompt reuses a training word.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "patchbay/tokenizer/tokenizer.hpp"

namespace patchbay {

inline constexpr const char* kDefaultDictionary = "/usr/share/dict/words";

struct Word {
  std::string text;
  std::vector<std::int64_t> tokens;  // tokens of " text"
};

class WordPool {
 public:
  void add(Word w) { by_length_[static_cast<int>(w.tokens.size())].push_back(std::move(w)); }
  // Words of exactly `n_tokens` tokens; empty when there are none.
  const std::vector<Word>& of_length(int n_tokens) const;
  std::size_t size() const;
  // "1: 812, 2: 4031, ..." for messages.
  std::string describe() const;

 private:
  std::map<int, std::vector<Word>> by_length_;
};

struct WordLists {
  WordPool train;
  WordPool val;
};

// Reads `dictionary`, keeps lines matching ^[a-z]+$ (deduplicated), shuffles them with `seed`
// and puts the first `train_fraction` into train. Throws InputError when the file is missing
// or holds no usable word.
WordLists load_word_lists(const Tokenizer& tokenizer, const std::string& dictionary, std::uint64_t seed,
                          double train_fraction = 0.8);

}  // namespace patchbay

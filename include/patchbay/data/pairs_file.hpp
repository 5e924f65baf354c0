#pragma once
// Prompt pairs from a JSON Lines file, one pair a line:
//   {"clean": "...", "corrupted": "...", "correct": " Ben", "incorrect": " Lily", "position": -1}
// `clean_ids` / `corrupted_ids` (token id arrays, used exactly as given: no BOS added) may
// replace the texts; `correct_id` / `incorrect_id` the answers (an answer given as text must be
// exactly one token, as it follows the prompt); `position` (default -1, the last token; negative
// counts from the end) is the target. Texts are tokenized by the model's tokenizer with its BOS
// convention. Answers are optional (the output metrics say which they need). Every pair must
// have the same token count and target: patching runs all pairs as one batch.
#include <istream>
#include <string>
#include <vector>

#include "patchbay/data/pairs.hpp"
#include "patchbay/tokenizer/tokenizer.hpp"

namespace patchbay {

struct PairsFileOptions {
  const Tokenizer* tokenizer = nullptr;  // null: only id prompts and answers are accepted
  std::int64_t vocab_size = 0;           // ids must lie in [0, vocab_size)
  std::int64_t max_tokens = 0;           // the model's context length
  bool bos = true;                       // prepend BOS to text prompts (TransformerLens's default)
};

// Throws InputError naming the file, the line and what is wrong: invalid JSON, missing or
// doubled fields, ids outside the vocabulary, an answer of several tokens, clean and corrupted
// of different token counts, a position outside the prompt, pairs that disagree on length or
// target with the first, or no pairs at all.
std::vector<PromptPair> read_pairs_file(const std::string& path, const PairsFileOptions& options);
std::vector<PromptPair> parse_pairs(std::istream& in, const std::string& name, const PairsFileOptions& options);

// One JSON line of a pair, as read_pairs_file reads it back: ids, answers ids, position.
std::string pair_to_json_line(const PromptPair& pair);

}  // namespace patchbay

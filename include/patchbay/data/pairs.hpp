#pragma once
// Token-aligned clean/corrupted prompt pairs: the same prefix and the same number of tokens,
// split into words differently, so the target token (the last) sits at the same absolute
// position but ends a different word. 3|1 vs 1|2|1: the 4th token ends word 1 in the clean
// prompt and word 2 in the corrupted one.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/core/text.hpp"  // is_span_name
#include "patchbay/data/word_index.hpp"

namespace patchbay {

struct PairOptions {
  std::vector<int> clean_split = {3, 1};         // tokens per word
  std::vector<int> corrupted_split = {1, 2, 1};  // must have the same total
  int n_pairs = 64;
  std::string prefix = kDefaultPrefix;
  bool bos = true;   // prepend the tokenizer's BOS (TransformerLens's default)
  std::uint64_t seed = 0;        // which words and prompts are drawn
  // The word-index run whose validation words the pairs use: its dataset seed decides the
  // train/validation split of the word list, so pairs never hold the probe's training words,
  // whatever `seed` is.
  std::uint64_t split_seed = 0;
  std::string dictionary = kDefaultDictionary;
};

// A named run of tokens, first..last inclusive (absolute positions): a span of a
// position-aware circuit.
struct NamedSpan {
  std::string name;
  std::int32_t first = 0, last = 0;
};

std::vector<std::string> span_names(const std::vector<NamedSpan>& spans);

struct PromptPair {
  Prompt clean;
  Prompt corrupted;
  std::int32_t target = 0;          // absolute position of the target token (the last)
  std::int32_t clean_label = 0;     // word index of the target in the clean prompt
  std::int32_t corrupted_label = 0;
  // Answer tokens the output metrics compare at the target (pairs from a file); -1 when none.
  std::int64_t correct = -1, incorrect = -1;
  // The pair's own spans, in token order (pairs files' "spans"); empty: derived from the word
  // structure or one span per position (patching/spans.hpp).
  std::vector<NamedSpan> spans;
};

// Draws real words of the required token lengths from the validation words of the split
// `split_seed` makes (a probe trained by the word-index run with that seed never saw them). Throws InputError when the splits have different
// totals or a length has no words.
std::vector<PromptPair> token_aligned_pairs(const Tokenizer& tokenizer, const PairOptions& options);

// The pairs' tokens as [n_pairs, pos] int64: which = 0 for clean, 1 for corrupted.
at::Tensor pair_tokens(const std::vector<PromptPair>& pairs, int which);

}  // namespace patchbay

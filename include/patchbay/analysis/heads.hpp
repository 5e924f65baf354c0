#pragma once
// Attention-pattern scores: for every head, the average attention (over query tokens after the
// prefix) paid to positions that could let it count words.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/data/word_index.hpp"
#include "patchbay/model/model.hpp"

namespace patchbay {

enum class HeadPattern {
  CurrentWordFirst,   // the first token of the query's own word
  PreviousWordFirst,  // the first token of the previous word
  PreviousWordLast,   // the last token of the previous word
  LastBreak,          // the most recent newline or full stop at or before the query
  SpaceTokens,        // all tokens that begin with a space (total attention on them)
};
inline constexpr int kNumHeadPatterns = 5;
const char* to_string(HeadPattern p);

struct HeadScores {
  at::Tensor scores;  // [layer, head, pattern]: mean attention, NaN where a pattern never applies
  std::vector<std::string> patterns;
  // Heads ranked by one pattern's score, highest first: ("a1.h3", score).
  std::vector<std::pair<std::string, double>> ranking(HeadPattern pattern, std::size_t top = 10) const;
};

// prompts: word-index prompts (their labels say where words start and end).
HeadScores head_pattern_scores(const Model& model, const std::vector<Prompt>& prompts, int batch_size = 32);

// The attention patterns of chosen heads on one prompt, with its tokens: what a reader looks at
// to see what a head does.
struct AttentionExample {
  std::string prompt;               // what the prompt is, e.g. "clean" or "corrupted"
  std::vector<std::string> tokens;  // token texts: [pos]
  std::vector<std::string> heads;   // "a3.h5", ...: [head]
  at::Tensor patterns;              // [head, q, k] float32 attention probabilities
};
// heads: (layer, head) pairs.
AttentionExample attention_example(const Model& model, const std::vector<std::int64_t>& tokens,
                                   const std::vector<std::pair<int, std::int64_t>>& heads, std::string prompt);

}  // namespace patchbay

#include "patchbay/data/pairs.hpp"

#include <algorithm>
#include <numeric>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/rng.hpp"

namespace patchbay {

std::vector<std::string> span_names(const std::vector<NamedSpan>& spans) {
  std::vector<std::string> names;
  for (const auto& s : spans) names.push_back(s.name);
  return names;
}

std::vector<PromptPair> token_aligned_pairs(const Tokenizer& tok, const PairOptions& o) {
  const int clean_total = std::accumulate(o.clean_split.begin(), o.clean_split.end(), 0);
  const int corrupted_total = std::accumulate(o.corrupted_split.begin(), o.corrupted_split.end(), 0);
  if (o.clean_split.empty() || o.corrupted_split.empty())
    fail<InputError>("token splits must not be empty (e.g. 3,1 and 1,2,1)");
  if (clean_total != corrupted_total)
    fail<InputError>("pairs must have equal token counts: clean split {} has {} tokens, corrupted split {} has {}",
                     fmt::join(o.clean_split, "|"), clean_total, fmt::join(o.corrupted_split, "|"), corrupted_total);
  if (o.clean_split.size() == o.corrupted_split.size())
    fail<InputError>("the target must end different words: clean split {} and corrupted split {} have the same word count",
                     fmt::join(o.clean_split, "|"), fmt::join(o.corrupted_split, "|"));
  if (o.n_pairs < 1 || o.n_pairs > 100000) fail<InputError>("number of pairs must lie in 1..100000, got {}", o.n_pairs);

  const WordLists lists = load_word_lists(tok, o.dictionary, o.split_seed);
  const WordPool& pool = lists.val;
  for (const auto* split : {&o.clean_split, &o.corrupted_split})
    for (int len : *split)
      if (len < 1 || pool.of_length(len).empty())
        fail<InputError>("no validation word has {} tokens (available: {})", len, pool.describe());

  const auto prefix = tok.encode(o.prefix, o.bos);
  Rng rng = Rng(o.seed).fork(0xFA125);
  std::vector<PromptPair> pairs;
  for (int i = 0; i < o.n_pairs; ++i) {
    auto draw = [&](const std::vector<int>& split) {
      std::vector<std::vector<std::int64_t>> words;
      for (int len : split) words.push_back(rng.pick(pool.of_length(len)).tokens);
      return assemble_prompt(tok, prefix, words);
    };
    PromptPair pair;
    pair.clean = draw(o.clean_split);
    pair.corrupted = draw(o.corrupted_split);
    pair.target = static_cast<std::int32_t>(pair.clean.tokens.size()) - 1;
    pair.clean_label = static_cast<std::int32_t>(o.clean_split.size()) - 1;
    pair.corrupted_label = static_cast<std::int32_t>(o.corrupted_split.size()) - 1;
    pairs.push_back(std::move(pair));
  }
  return pairs;
}

at::Tensor pair_tokens(const std::vector<PromptPair>& pairs, int which) {
  if (pairs.empty()) fail<InputError>("no prompt pairs");
  const auto length = static_cast<std::int64_t>(pairs.front().clean.tokens.size());
  std::vector<std::int64_t> flat;
  for (const auto& pair : pairs) {
    const auto& tokens = which == 0 ? pair.clean.tokens : pair.corrupted.tokens;
    if (static_cast<std::int64_t>(tokens.size()) != length)
      fail<InputError>("pairs of unequal length: {} tokens and {} tokens", length, tokens.size());
    flat.insert(flat.end(), tokens.begin(), tokens.end());
  }
  return at::tensor(flat, at::kLong).view({static_cast<std::int64_t>(pairs.size()), length});
}

}  // namespace patchbay

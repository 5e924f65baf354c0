#include "patchbay/data/word_list.hpp"

#include <algorithm>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/rng.hpp"

namespace patchbay {

const std::vector<Word>& WordPool::of_length(int n_tokens) const {
  static const std::vector<Word> none;
  auto it = by_length_.find(n_tokens);
  return it == by_length_.end() ? none : it->second;
}

std::size_t WordPool::size() const {
  std::size_t n = 0;
  for (const auto& [len, words] : by_length_) n += words.size();
  return n;
}

std::string WordPool::describe() const {
  std::string out;
  for (const auto& [len, words] : by_length_) out += fmt::format("{}{} tokens: {}", out.empty() ? "" : ", ", len, words.size());
  return out.empty() ? "no words" : out;
}

WordLists load_word_lists(const Tokenizer& tokenizer, const std::string& dictionary, std::uint64_t seed,
                          double train_fraction) {
  if (!(train_fraction > 0 && train_fraction < 1))
    fail<InputError>("train fraction must lie in (0, 1), got {}", train_fraction);
  std::ifstream in(dictionary);
  if (!in) fail<InputError>("cannot read the word list '{}' (Debian's wamerican installs the default one)", dictionary);
  std::set<std::string> unique;  // sorted: the order does not depend on the file's order
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line.size() <= 40 && std::all_of(line.begin(), line.end(), [](char c) { return c >= 'a' && c <= 'z'; }))
      unique.insert(line);
  }
  if (unique.size() < 10)
    fail<InputError>("word list '{}' has {} lowercase alphabetic words; need at least 10", dictionary, unique.size());
  std::vector<std::string> words(unique.begin(), unique.end());
  Rng(seed).fork(0x5B117).shuffle(words);
  const auto n_train = static_cast<std::size_t>(static_cast<double>(words.size()) * train_fraction);
  WordLists lists;
  for (std::size_t i = 0; i < words.size(); ++i) {
    Word w{words[i], tokenizer.encode_word(words[i])};
    (i < n_train ? lists.train : lists.val).add(std::move(w));
  }
  return lists;
}

}  // namespace patchbay

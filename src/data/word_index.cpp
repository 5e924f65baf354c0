#include "patchbay/data/word_index.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/rng.hpp"

namespace patchbay {
namespace {

// Token pools for the random-token variants: lowercase alphabetic tokens with and without a
// leading space, split train/val like the words.
struct TokenPools {
  std::vector<std::int64_t> spaced_train, spaced_val, bare_train, bare_val;
};

TokenPools token_pools(const Tokenizer& tok, std::uint64_t seed, double train_fraction) {
  std::vector<std::int64_t> spaced, bare;
  for (std::int64_t id = 0; id < tok.vocab_size(); ++id) {
    std::string text = tok.token_text(id);
    bool has_space = !text.empty() && text[0] == ' ';
    std::string body = has_space ? text.substr(1) : text;
    if (body.empty() || !std::all_of(body.begin(), body.end(), [](char c) { return c >= 'a' && c <= 'z'; })) continue;
    (has_space ? spaced : bare).push_back(id);
  }
  TokenPools p;
  auto split = [&](std::vector<std::int64_t> all, std::uint64_t label, auto& train, auto& val) {
    Rng(seed).fork(label).shuffle(all);
    auto n = static_cast<std::size_t>(static_cast<double>(all.size()) * train_fraction);
    train.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n));
    val.assign(all.begin() + static_cast<std::ptrdiff_t>(n), all.end());
    if (train.empty() || val.empty())
      fail<InputError>("the vocabulary has too few lowercase alphabetic tokens ({}) for the random-token variant", all.size());
  };
  split(spaced, 0x5BACE, p.spaced_train, p.spaced_val);
  split(bare, 0xBA4E, p.bare_train, p.bare_val);
  return p;
}

// Builds the units of one prompt; one instance per split.
class UnitMaker {
 public:
  UnitMaker(const Tokenizer& tok, const WordIndexOptions& o, const WordPool& words, const TokenPools* pools, bool train)
      : tok_(tok), o_(o), words_(words), pools_(pools), train_(train) {
    if (o.scheme == CountingScheme::Words && o.source == UnitSource::Dictionary)
      for (int len : o.unit_lengths)
        if (words.of_length(len).empty())
          fail<InputError>("the {} word list has no word of {} tokens (it has {}); choose other --word-lengths",
                           train ? "training" : "validation", len, words.describe());
  }

  std::vector<std::int64_t> make(Rng& rng) const {
    switch (o_.scheme) {
      case CountingScheme::Words: return word(rng);
      case CountingScheme::ListItems: {
        auto item = dictionary_word(rng);
        auto comma = tok_.encode_continuation(",");
        item.insert(item.end(), comma.begin(), comma.end());
        return item;
      }
      case CountingScheme::Sentences: {
        // " Apple river blue stone." : 3-6 words, capitalised, ending in a full stop.
        int n = 3 + static_cast<int>(rng.below(4));
        std::string text;
        for (int i = 0; i < n; ++i) {
          std::string w = rng.pick(words_.of_length(any_length(rng))).text;
          if (i == 0) w[0] = static_cast<char>(w[0] - 'a' + 'A');
          text += " " + w;
        }
        return tok_.encode_continuation(text + ".");
      }
      case CountingScheme::CodeLines: {
        // One statement per line, identifiers from the dictionary, no indentation (so the
        // newline is its own token in every tokenizer).
        auto id = [&] { return rng.pick(words_.of_length(any_length(rng))).text; };
        std::string line;
        switch (rng.below(5)) {
          case 0: line = fmt::format("{} = {}", id(), id()); break;
          case 1: line = fmt::format("{} = {} + {}", id(), id(), id()); break;
          case 2: line = fmt::format("{}({})", id(), id()); break;
          case 3: line = fmt::format("{}.{}({}, {})", id(), id(), id(), id()); break;
          default: line = fmt::format("print({})", id()); break;
        }
        return tok_.encode_continuation(line + "\n");
      }
    }
    return {};
  }

 private:
  int any_length(Rng& rng) const {
    // Non-word schemes use every word length the pool has among the requested ones.
    int len = o_.unit_lengths[rng.below(o_.unit_lengths.size())];
    return words_.of_length(len).empty() ? 1 : len;
  }
  std::vector<std::int64_t> dictionary_word(Rng& rng) const {
    int len = o_.unit_lengths[rng.below(o_.unit_lengths.size())];
    return rng.pick(words_.of_length(len)).tokens;
  }
  std::vector<std::int64_t> word(Rng& rng) const {
    if (o_.source == UnitSource::Dictionary) return dictionary_word(rng);
    int len = o_.unit_lengths[rng.below(o_.unit_lengths.size())];
    const auto& spaced = train_ ? pools_->spaced_train : pools_->spaced_val;
    const auto& bare = train_ ? pools_->bare_train : pools_->bare_val;
    std::vector<std::int64_t> tokens;
    for (int i = 0; i < len; ++i)
      tokens.push_back(i == 0 && o_.source == UnitSource::RandomTokensSpaced ? rng.pick(spaced) : rng.pick(bare));
    return tokens;
  }

  const Tokenizer& tok_;
  const WordIndexOptions& o_;
  const WordPool& words_;
  const TokenPools* pools_;
  bool train_;
};

Prompt make_prompt(const Tokenizer& tok, const std::vector<std::int64_t>& prefix, const UnitMaker& maker, int n_units,
                   Rng& rng) {
  std::vector<std::vector<std::int64_t>> units;
  for (int u = 0; u < n_units; ++u) units.push_back(maker.make(rng));
  return assemble_prompt(tok, prefix, units);
}

void add_points(WordIndexSplit& split, int prompt_index, Readout readout) {
  const Prompt& p = split.prompts[static_cast<std::size_t>(prompt_index)];
  const auto& marker = readout == Readout::LastToken ? p.last : p.first;
  for (std::size_t pos = 0; pos < p.tokens.size(); ++pos)
    if (p.unit[pos] >= 0 && marker[pos])
      split.points.push_back({prompt_index, static_cast<std::int32_t>(pos), p.unit[pos]});
}

// Keeps, at every absolute position, the same number of points of each unit index that occurs
// there, so absolute position alone carries no information about the label. Positions where
// fewer than two indices occur are dropped.
std::vector<ProbePoint> balance(const std::vector<ProbePoint>& points, Rng& rng) {
  std::map<std::int32_t, std::map<std::int32_t, std::vector<ProbePoint>>> cells;  // position -> label -> points
  for (const auto& pt : points) cells[pt.position][pt.label].push_back(pt);
  std::vector<ProbePoint> out;
  for (auto& [pos, by_label] : cells) {
    if (by_label.size() < 2) continue;
    std::size_t n = SIZE_MAX;
    for (auto& [label, pts] : by_label) n = std::min(n, pts.size());
    for (auto& [label, pts] : by_label) {
      rng.shuffle(pts);
      out.insert(out.end(), pts.begin(), pts.begin() + static_cast<std::ptrdiff_t>(n));
    }
  }
  std::sort(out.begin(), out.end(), [](const ProbePoint& a, const ProbePoint& b) {
    return a.prompt != b.prompt ? a.prompt < b.prompt : a.position < b.position;
  });
  return out;
}

}  // namespace

void WordIndexOptions::validate() const {
  if (n_units < 2 || n_units > 64) fail<InputError>("number of words must lie in 2..64, got {}", n_units);
  if (unit_lengths.empty()) fail<InputError>("--word-lengths is empty: expected token counts such as 1,2,3");
  for (int len : unit_lengths)
    if (len < 1 || len > 32) fail<InputError>("word length {} is out of range (expected 1..32 tokens)", len);
  if (train_points < 1 || train_points > 10'000'000)
    fail<InputError>("--train-points must lie in 1..10000000, got {}", train_points);
  if (val_prompts < 1 || val_prompts > 1'000'000) fail<InputError>("--val-prompts must lie in 1..1000000, got {}", val_prompts);
}

std::int64_t WordIndexSplit::max_length() const {
  std::size_t n = 0;
  for (const auto& p : prompts) n = std::max(n, p.tokens.size());
  return static_cast<std::int64_t>(n);
}

WordIndexDataset WordIndexDataset::generate(const Tokenizer& tok, const WordIndexOptions& o) {
  o.validate();
  WordIndexDataset ds;
  ds.options = o;
  const WordLists words = load_word_lists(tok, o.dictionary, o.seed, o.train_fraction);
  std::unique_ptr<TokenPools> pools;
  if (o.source != UnitSource::Dictionary) pools = std::make_unique<TokenPools>(token_pools(tok, o.seed, o.train_fraction));
  if (o.bos && !tok.bos_id()) fail<InputError>("BOS requested but this tokenizer has no BOS token; turn bos off");
  // The prefix starts the text (llama2.c adds its dummy-prefix space there); the units continue it.
  const std::vector<std::int64_t> prefix = tok.encode(o.prefix, o.bos);

  // Draws prompts until the split has `target` points; with balancing, until the balanced
  // subset has at least `target` points (balancing discards points, so draw in growing rounds).
  auto fill = [&](WordIndexSplit& split, const WordPool& pool, bool train, std::uint64_t label, std::size_t target) {
    UnitMaker maker(tok, o, pool, pools.get(), train);
    Rng rng = Rng(o.seed).fork(label);
    std::size_t want = target;
    for (int round = 0;; ++round) {
      while (split.points.size() < want) {
        split.prompts.push_back(make_prompt(tok, prefix, maker, o.n_units, rng));
        add_points(split, static_cast<int>(split.prompts.size()) - 1, o.readout);
      }
      if (!o.balance_positions) {
        split.points.resize(target);
        return;
      }
      Rng balance_rng = Rng(o.seed).fork(label + 1);
      auto balanced = balance(split.points, balance_rng);
      if (balanced.size() >= target) {
        split.points = std::move(balanced);
        return;
      }
      if (round == 6)
        fail<InputError>("balancing positions kept {} of {} points after {} prompts: too few word indices share absolute "
                         "positions; use more word lengths",
                         balanced.size(), split.points.size(), split.prompts.size());
      want *= 2;
    }
  };
  fill(ds.train, words.train, true, 0x7EA1, static_cast<std::size_t>(o.train_points));
  fill(ds.val, words.val, false, 0x7A1, static_cast<std::size_t>(o.val_prompts) * static_cast<std::size_t>(o.n_units));
  return ds;
}

Prompt assemble_prompt(const Tokenizer& tok, const std::vector<std::int64_t>& prefix,
                       const std::vector<std::vector<std::int64_t>>& units) {
  Prompt p;
  p.tokens = prefix;
  p.prefix_length = static_cast<std::int32_t>(prefix.size());
  p.unit.assign(prefix.size(), -1);
  p.pos_in_unit.assign(prefix.size(), -1);
  p.first.assign(prefix.size(), 0);
  p.last.assign(prefix.size(), 0);
  for (std::size_t u = 0; u < units.size(); ++u)
    for (std::size_t i = 0; i < units[u].size(); ++i) {
      p.tokens.push_back(units[u][i]);
      p.unit.push_back(static_cast<std::int32_t>(u));
      p.pos_in_unit.push_back(static_cast<std::int32_t>(i));
      p.first.push_back(i == 0);
      p.last.push_back(i + 1 == units[u].size());
    }
  for (auto id : p.tokens) p.space.push_back(tok.begins_word(id));
  p.text = tok.decode(p.tokens);
  return p;
}

std::int32_t space_count(const Prompt& p, std::int32_t position) {
  std::int32_t n = 0;
  for (std::int32_t i = p.prefix_length; i <= position; ++i) n += p.space[static_cast<std::size_t>(i)];
  return n;
}

const char* to_string(CountingScheme s) {
  switch (s) {
    case CountingScheme::Words: return "words";
    case CountingScheme::Sentences: return "sentences";
    case CountingScheme::ListItems: return "list";
    case CountingScheme::CodeLines: return "code";
  }
  return "?";
}

const char* to_string(UnitSource s) {
  switch (s) {
    case UnitSource::Dictionary: return "dictionary";
    case UnitSource::RandomTokensSpaced: return "random-tokens-spaced";
    case UnitSource::RandomTokensUnspaced: return "random-tokens-unspaced";
  }
  return "?";
}


}  // namespace patchbay

#pragma once
// Prompts for the word-index experiment: a fixed prefix followed by `n_units` counted units
// (words by default; sentences, list items or lines of code in the other counting schemes),
// with labels on every token, and the probe points read out from them.
#include <cstdint>
#include <string>
#include <vector>

#include "patchbay/data/prefixes.hpp"
#include "patchbay/data/word_list.hpp"
#include "patchbay/tokenizer/tokenizer.hpp"

namespace patchbay {

enum class CountingScheme { Words, Sentences, ListItems, CodeLines };
// Where a word-scheme unit's tokens come from.
enum class UnitSource { Dictionary, RandomTokensSpaced, RandomTokensUnspaced };
enum class Readout { LastToken, FirstToken };

struct WordIndexOptions {
  int n_units = 7;
  std::vector<int> unit_lengths = {1, 2, 3};  // tokens per word, each drawn uniformly (words scheme)
  std::string prefix = kDefaultPrefix;
  bool bos = true;                            // prepend the tokenizer's BOS, as TransformerLens's to_tokens does
  CountingScheme scheme = CountingScheme::Words;
  UnitSource source = UnitSource::Dictionary;
  Readout readout = Readout::LastToken;
  // Equal counts of every unit index at each absolute position (positions holding a single
  // index are dropped); the splits then hold at least train_points / val_prompts x n_units points.
  bool balance_positions = false;
  int train_points = 10000;
  int val_prompts = 2560;
  std::uint64_t seed = 0;
  std::string dictionary = kDefaultDictionary;
  double train_fraction = 0.8;

  // Throws InputError naming the bad field.
  void validate() const;
};

// One prompt with per-token labels. All vectors are [pos].
struct Prompt {
  std::vector<std::int64_t> tokens;
  std::vector<std::int32_t> unit;         // unit (word) index, -1 for prefix tokens
  std::vector<std::int32_t> pos_in_unit;  // position within its unit, -1 for prefix tokens
  std::vector<std::uint8_t> first;        // first token of its unit
  std::vector<std::uint8_t> last;         // last token of its unit
  std::vector<std::uint8_t> space;        // token begins with a space / "▁"
  std::int32_t prefix_length = 0;
  std::string text;                       // decoded, for display
};

// A point the probe is trained or evaluated on.
struct ProbePoint {
  std::int32_t prompt;
  std::int32_t position;  // absolute token position
  std::int32_t label;     // unit index
};

struct WordIndexSplit {
  std::vector<Prompt> prompts;
  std::vector<ProbePoint> points;
  std::int64_t max_length() const;
};

struct WordIndexDataset {
  WordIndexOptions options;
  WordIndexSplit train;
  WordIndexSplit val;
  int n_classes() const { return options.n_units; }

  // Deterministic in options.seed: the same seed gives bit-identical prompts and points.
  static WordIndexDataset generate(const Tokenizer& tokenizer, const WordIndexOptions& options);
};

// A prompt from its prefix tokens and its units' tokens, with every per-token label filled in.
Prompt assemble_prompt(const Tokenizer& tokenizer, const std::vector<std::int64_t>& prefix,
                       const std::vector<std::vector<std::int64_t>>& units);

// Count of space-initial tokens after the prefix up to and including `position`: the
// "begins with a space" confound the baselines measure.
std::int32_t space_count(const Prompt& prompt, std::int32_t position);

const char* to_string(CountingScheme scheme);
const char* to_string(UnitSource source);

}  // namespace patchbay

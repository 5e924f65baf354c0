#pragma once
// Spans of a position-aware circuit: its nodes are (component, span) and its edges run within a
// span or, through an attention head's keys and values, from an earlier span to a later one.
// Every pair has the same spans by name, in token order, covering token 0 through the target;
// the last span holds the target. Their token ranges may differ from pair to pair.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/data/pairs.hpp"

namespace patchbay {

class H5Writer;
class H5Reader;

// How a span's per-token scores become the edge's score (PEAP's aggregations), per pair before
// the mean over pairs: their sum (the whole-component score splits into the spans' sums), mean,
// sum of |.|, or largest |.|.
enum class SpanAggregation { Sum, Mean, AbsSum, MaxAbs };
SpanAggregation parse_span_aggregation(std::string_view name);  // "sum", "mean", "abs-sum", "max-abs"
const char* to_string(SpanAggregation aggregation);

struct SpanSchema {
  std::string source;                           // "pairs" (the pairs' own), "words" or "positions"
  std::vector<std::string> names;               // [span], in token order
  std::vector<std::vector<NamedSpan>> ranges;   // [pair][span]

  std::int64_t size() const { return static_cast<std::int64_t>(names.size()); }
  bool empty() const { return names.empty(); }
  // [pair, positions, span] float: 1 where the token lies in the span (none past the target).
  at::Tensor membership(std::int64_t positions) const;
  // Throws InputError unless there is one range list per pair, each naming `names` in order,
  // contiguous from token 0 to the pair's target.
  void check(const std::vector<PromptPair>& pairs) const;
  // The schema of pairs [first, first + count) (a chunk of the pairs it was made for).
  SpanSchema slice(std::int64_t first, std::int64_t count) const;

  // graph/spans: name [span], first and last [pair, span]; read() returns an empty schema
  // when the file has none (a whole-component graph).
  void write(H5Writer& out, const std::string& group) const;
  static SpanSchema read(const H5Reader& in, const std::string& group);
};

// The pairs' own spans when they carry them; else, for word-index pairs, "prefix" (BOS and
// the prefix) and "w0", "w1", ... by the clean prompt's words (the clean and corrupted prompts
// are token-aligned); else one span per position "p0", "p1", ... up to the target.
SpanSchema span_schema(const std::vector<PromptPair>& pairs);
SpanSchema position_spans(const std::vector<PromptPair>& pairs);

}  // namespace patchbay

#include "patchbay/patching/spans.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {

namespace {
constexpr std::pair<SpanAggregation, const char*> kAggregations[] = {
    {SpanAggregation::Sum, "sum"}, {SpanAggregation::Mean, "mean"}, {SpanAggregation::AbsSum, "abs-sum"}, {SpanAggregation::MaxAbs, "max-abs"}};

// The clean prompt's words as spans: "prefix" for the tokens before the first word (BOS and
// the prefix), then one span per word, up to the target.
std::vector<NamedSpan> word_ranges(const PromptPair& pair) {
  std::vector<NamedSpan> spans;
  for (std::int32_t t = 0; t <= pair.target; ++t) {
    const auto unit = pair.clean.unit[static_cast<std::size_t>(t)];
    const auto name = unit < 0 ? std::string("prefix") : fmt::format("w{}", unit);
    if (spans.empty() || spans.back().name != name) spans.push_back({name, t, t});
    else spans.back().last = t;
  }
  return spans;
}

bool has_word_structure(const PromptPair& pair) {
  return pair.clean.unit.size() == pair.clean.tokens.size() && pair.clean_label >= 0;
}
}  // namespace

SpanAggregation parse_span_aggregation(std::string_view name) {
  for (auto [a, n] : kAggregations)
    if (name == n) return a;
  fail<InputError>("unknown span aggregation '{}' (expected sum, mean, abs-sum or max-abs)", name);
}

const char* to_string(SpanAggregation aggregation) {
  for (auto [a, n] : kAggregations)
    if (a == aggregation) return n;
  return "?";
}

at::Tensor SpanSchema::membership(std::int64_t positions) const {
  auto m = at::zeros({static_cast<std::int64_t>(ranges.size()), positions, size()}, at::kFloat);
  for (std::size_t p = 0; p < ranges.size(); ++p)
    for (std::size_t s = 0; s < ranges[p].size(); ++s) {
      const auto& r = ranges[p][s];
      m[static_cast<std::int64_t>(p)].narrow(0, r.first, r.last - r.first + 1).select(1, static_cast<std::int64_t>(s)).fill_(1.0);
    }
  return m;
}

SpanSchema SpanSchema::slice(std::int64_t first, std::int64_t count) const {
  if (first < 0 || count < 0 || first + count > static_cast<std::int64_t>(ranges.size()))
    fail<InputError>("pairs {}..{} are outside the span schema's {} pairs", first, first + count - 1, ranges.size());
  return {source, names, {ranges.begin() + first, ranges.begin() + first + count}};
}

void SpanSchema::check(const std::vector<PromptPair>& pairs) const {
  if (names.empty()) fail<InputError>("a position-aware circuit needs at least one span");
  if (ranges.size() != pairs.size()) fail<InputError>("{} span lists for {} pairs", ranges.size(), pairs.size());
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    const auto& spans = ranges[p];
    if (span_names(spans) != names)
      fail<InputError>("pair {} has spans [{}], expected [{}]", p, fmt::join(span_names(spans), ", "), fmt::join(names, ", "));
    std::int32_t next = 0;
    for (const auto& s : spans) {
      if (s.first != next || s.last < s.first)
        fail<InputError>("pair {}: span '{}' covers tokens {}..{}, expected it to start at token {} (spans cover token 0 to the target "
                         "in order, without gaps)",
                         p, s.name, s.first, s.last, next);
      next = s.last + 1;
    }
    if (next != pairs[p].target + 1)
      fail<InputError>("pair {}: the spans end at token {} but the target is token {}: the last span must end at the target", p, next - 1,
                       pairs[p].target);
  }
}

SpanSchema position_spans(const std::vector<PromptPair>& pairs) {
  SpanSchema s;
  s.source = "positions";
  if (pairs.empty()) return s;
  for (std::int32_t t = 0; t <= pairs.front().target; ++t) s.names.push_back(fmt::format("p{}", t));
  for (const auto& pair : pairs) {
    std::vector<NamedSpan> spans;
    for (std::int32_t t = 0; t <= pair.target; ++t) spans.push_back({fmt::format("p{}", t), t, t});
    s.ranges.push_back(std::move(spans));
  }
  return s;
}

SpanSchema span_schema(const std::vector<PromptPair>& pairs) {
  if (pairs.empty()) fail<InputError>("spans need at least one pair");
  SpanSchema s;
  if (!pairs.front().spans.empty()) {
    s.source = "pairs";
    for (const auto& pair : pairs) s.ranges.push_back(pair.spans);
  } else if (std::all_of(pairs.begin(), pairs.end(), has_word_structure)) {
    s.source = "words";
    for (const auto& pair : pairs) s.ranges.push_back(word_ranges(pair));
  } else {
    s = position_spans(pairs);
  }
  s.names = span_names(s.ranges.front());
  s.check(pairs);
  return s;
}

void SpanSchema::write(H5Writer& out, const std::string& group) const {
  if (empty()) return;
  const auto P = static_cast<std::int64_t>(ranges.size()), S = size();
  auto first = at::empty({P, S}, at::kLong), last = at::empty({P, S}, at::kLong);
  for (std::int64_t p = 0; p < P; ++p)
    for (std::int64_t s = 0; s < S; ++s) {
      first[p][s] = ranges[static_cast<std::size_t>(p)][static_cast<std::size_t>(s)].first;
      last[p][s] = ranges[static_cast<std::size_t>(p)][static_cast<std::size_t>(s)].last;
    }
  out.write_strings(group + "/spans/name", names, {{"span"}, "span names, in token order; the last holds the target"});
  out.write_tensor(group + "/spans/first", first, {{"pair", "span"}, "first token of the span (absolute position, inclusive)"});
  out.write_tensor(group + "/spans/last", last, {{"pair", "span"}, "last token of the span (absolute position, inclusive)"});
  out.write_attribute("source", source, group + "/spans");
}

SpanSchema SpanSchema::read(const H5Reader& in, const std::string& group) {
  SpanSchema s;
  if (!in.has(group + "/spans/name")) return s;
  s.names = in.read_strings(group + "/spans/name", 1 << 16);
  s.source = in.attribute("source", group + "/spans").value_or("");
  const auto first = in.read_tensor_of_rank(group + "/spans/first", 2).to(at::kLong);
  const auto last = in.read_tensor_of_rank(group + "/spans/last", 2).to(at::kLong);
  if (first.sizes() != last.sizes() || first.size(1) != s.size())
    fail<FormatError>("'{}': {}/spans/first is {} and last {} for {} span names", in.path(), group, first.sizes(), last.sizes(), s.size());
  for (const auto& name : s.names)
    if (!is_span_name(name)) fail<FormatError>("'{}': {}/spans/name holds '{}', not a span name", in.path(), group, name);
  for (std::int64_t p = 0; p < first.size(0); ++p) {
    std::vector<NamedSpan> spans;
    for (std::int64_t k = 0; k < s.size(); ++k) {
      const auto a = first[p][k].item<std::int64_t>(), b = last[p][k].item<std::int64_t>();
      if (a < 0 || b < a || b >= (1 << 24))
        fail<FormatError>("'{}': {}/spans: pair {} span '{}' covers tokens {}..{}", in.path(), group, p, s.names[static_cast<std::size_t>(k)], a, b);
      spans.push_back({s.names[static_cast<std::size_t>(k)], static_cast<std::int32_t>(a), static_cast<std::int32_t>(b)});
    }
    s.ranges.push_back(std::move(spans));
  }
  return s;
}

}  // namespace patchbay

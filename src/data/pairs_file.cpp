#include "patchbay/data/pairs_file.hpp"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"

namespace patchbay {

namespace {

// Where a line's problems are reported: "pairs.jsonl line 7".
struct Line {
  const std::string& file;
  std::size_t number;
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> what, Args&&... args) const {
    patchbay::fail<InputError>("{} line {}: {}", file, number, fmt::format(what, std::forward<Args>(args)...));
  }
};

std::vector<std::int64_t> ids_field(const nlohmann::json& j, const char* key, const Line& line, const PairsFileOptions& o) {
  const auto& v = j.at(key);
  if (!v.is_array() || v.empty()) line.fail("'{}' must be a non-empty array of token ids", key);
  std::vector<std::int64_t> ids;
  for (const auto& id : v) {
    if (!id.is_number_integer()) line.fail("'{}' holds {}, not a token id", key, id.dump());
    const auto value = id.get<std::int64_t>();
    if (value < 0 || value >= o.vocab_size) line.fail("'{}' holds token id {}, outside the vocabulary 0..{}", key, value, o.vocab_size - 1);
    ids.push_back(value);
  }
  return ids;
}

const Tokenizer& tokenizer_for(const Line& line, const PairsFileOptions& o, const char* key) {
  if (!o.tokenizer) line.fail("'{}' is text but the model has no tokenizer: give '{}_ids' instead", key, key);
  return *o.tokenizer;
}

// A prompt from "KEY" (text) or "KEY_ids" (ids as given), exactly one of them.
std::vector<std::int64_t> prompt_field(const nlohmann::json& j, const std::string& key, const Line& line, const PairsFileOptions& o) {
  const auto ids_key = key + "_ids";
  const bool text = j.contains(key), ids = j.contains(ids_key);
  if (text && ids) line.fail("give '{}' or '{}', not both", key, ids_key);
  if (!text && !ids) line.fail("missing '{}' (or '{}')", key, ids_key);
  if (ids) return ids_field(j, ids_key.c_str(), line, o);
  if (!j[key].is_string()) line.fail("'{}' must be a string", key);
  auto tokens = tokenizer_for(line, o, key.c_str()).encode(j[key].get<std::string>(), o.bos);
  if (tokens.empty()) line.fail("'{}' has no tokens", key);
  return tokens;
}

// An answer from "KEY" (text, exactly one token) or "KEY_id"; -1 when neither is given.
std::int64_t answer_field(const nlohmann::json& j, const std::string& key, const Line& line, const PairsFileOptions& o) {
  const auto id_key = key + "_id";
  if (j.contains(key) && j.contains(id_key)) line.fail("give '{}' or '{}', not both", key, id_key);
  if (j.contains(id_key)) {
    const auto& v = j[id_key];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() >= o.vocab_size)
      line.fail("'{}' is {}, not a token id in 0..{}", id_key, v.dump(), o.vocab_size - 1);
    return v.get<std::int64_t>();
  }
  if (!j.contains(key)) return -1;
  if (!j[key].is_string()) line.fail("'{}' must be a string", key);
  const auto text = j[key].get<std::string>();
  const auto tokens = tokenizer_for(line, o, key.c_str()).encode_continuation(text);
  if (tokens.size() != 1)
    line.fail("answer '{}' = {} is {} tokens; an answer must be exactly one token (give '{}' instead)", key, nlohmann::json(text).dump(),
              tokens.size(), id_key);
  return tokens.front();
}

std::int32_t target_field(const nlohmann::json& j, std::size_t length, const Line& line) {
  std::int64_t position = -1;
  if (j.contains("position")) {
    if (!j["position"].is_number_integer()) line.fail("'position' must be an integer, got {}", j["position"].dump());
    position = j["position"].get<std::int64_t>();
  }
  const auto n = static_cast<std::int64_t>(length);
  const auto target = position < 0 ? n + position : position;
  if (target < 0 || target >= n) line.fail("position {} is outside the prompt of {} tokens (-{}..{})", position, n, n, n - 1);
  return static_cast<std::int32_t>(target);
}

// "spans": [{"name": "subject", "first": 1, "last": 3}, ...]: names of letters, digits and '_',
// each within the prompt, in token order without overlap (their cover is checked with the target
// by span_schema).
std::vector<NamedSpan> spans_field(const nlohmann::json& j, std::size_t length, const Line& line) {
  std::vector<NamedSpan> spans;
  if (!j.contains("spans")) return spans;
  const auto& v = j["spans"];
  if (!v.is_array() || v.empty()) line.fail("'spans' must be a non-empty array of {{\"name\", \"first\", \"last\"}} objects");
  for (const auto& s : v) {
    if (!s.is_object() || s.size() != 3 || !s.contains("name") || !s.contains("first") || !s.contains("last") || !s["name"].is_string() ||
        !s["first"].is_number_integer() || !s["last"].is_number_integer())
      line.fail("each span must be {{\"name\": string, \"first\": token index, \"last\": token index}}, got {}", s.dump());
    const auto first = s["first"].get<std::int64_t>(), last = s["last"].get<std::int64_t>();
    const auto name = s["name"].get<std::string>();
    if (!is_span_name(name)) line.fail("span name {} must be letters, digits and '_'", s["name"].dump());
    if (first < 0 || last < first || last >= static_cast<std::int64_t>(length))
      line.fail("span '{}' covers tokens {}..{}: expected 0 <= first <= last < {} (the prompt's length)", name, first, last, length);
    if (!spans.empty() && first != spans.back().last + 1)
      line.fail("span '{}' starts at token {} but '{}' ends at {}: spans must follow each other without gaps or overlaps", name, first,
                spans.back().name, spans.back().last);
    for (const auto& other : spans)
      if (other.name == name) line.fail("span name '{}' is used twice", name);
    spans.push_back({name, static_cast<std::int32_t>(first), static_cast<std::int32_t>(last)});
  }
  return spans;
}

PromptPair parse_line(const std::string& text, const Line& line, const PairsFileOptions& o) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    line.fail("invalid JSON ({})", e.what());
  }
  if (!j.is_object()) line.fail("expected a JSON object, got {}", j.type_name());
  static const std::vector<std::string> known = {"clean", "clean_ids", "corrupted", "corrupted_ids", "correct", "correct_id",
                                                 "incorrect", "incorrect_id", "position", "spans"};
  for (const auto& [key, value] : j.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      line.fail("unknown field '{}' (expected clean[_ids], corrupted[_ids], correct[_id], incorrect[_id], position, spans)", key);
  PromptPair p;
  p.clean.tokens = prompt_field(j, "clean", line, o);
  p.corrupted.tokens = prompt_field(j, "corrupted", line, o);
  if (p.clean.tokens.size() != p.corrupted.tokens.size())
    line.fail("clean has {} tokens and corrupted {}: a pair's prompts must have the same token count", p.clean.tokens.size(),
              p.corrupted.tokens.size());
  if (o.max_tokens > 0 && static_cast<std::int64_t>(p.clean.tokens.size()) > o.max_tokens)
    line.fail("the prompts have {} tokens, more than the model's context of {}", p.clean.tokens.size(), o.max_tokens);
  p.target = target_field(j, p.clean.tokens.size(), line);
  p.correct = answer_field(j, "correct", line, o);
  p.incorrect = answer_field(j, "incorrect", line, o);
  p.clean_label = p.corrupted_label = -1;  // no word indices: not a word-index pair
  p.spans = spans_field(j, p.clean.tokens.size(), line);
  return p;
}

}  // namespace

std::vector<PromptPair> parse_pairs(std::istream& in, const std::string& name, const PairsFileOptions& o) {
  if (o.vocab_size <= 0) fail<InputError>("reading pairs needs the model's vocabulary size");
  std::vector<PromptPair> pairs;
  std::size_t first_line = 0;
  std::string text;
  for (std::size_t number = 1; std::getline(in, text); ++number) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines separate nothing
    const Line line{name, number};
    auto pair = parse_line(text, line, o);
    if (pairs.empty()) {
      first_line = number;
    } else if (pair.clean.tokens.size() != pairs.front().clean.tokens.size() || pair.target != pairs.front().target) {
      line.fail("{} tokens with the target at {}, but line {} has {} tokens with the target at {}: every pair must have the same "
                "token count and target (patching runs them as one batch)",
                pair.clean.tokens.size(), pair.target, first_line, pairs.front().clean.tokens.size(), pairs.front().target);
    } else if (span_names(pair.spans) != span_names(pairs.front().spans)) {
      line.fail("spans [{}] differ from line {}'s [{}]: every pair must name the same spans in the same order (a position-aware "
                "circuit's nodes are shared by all pairs)",
                fmt::join(span_names(pair.spans), ", "), first_line, fmt::join(span_names(pairs.front().spans), ", "));
    }
    pairs.push_back(std::move(pair));
  }
  if (pairs.empty()) fail<InputError>("{} holds no pairs (expected one JSON object a line)", name);
  const bool answered = pairs.front().correct >= 0;
  for (const auto& p : pairs)
    if ((p.correct >= 0) != answered) fail<InputError>("{}: some pairs give a correct answer and some do not; give it for all or none", name);
  return pairs;
}

std::vector<PromptPair> read_pairs_file(const std::string& path, const PairsFileOptions& o) {
  std::ifstream in(path);
  if (!in) fail<InputError>("cannot read the pairs file '{}'", path);
  return parse_pairs(in, path, o);
}

std::string pair_to_json_line(const PromptPair& p) {
  nlohmann::json j{{"clean_ids", p.clean.tokens}, {"corrupted_ids", p.corrupted.tokens}, {"position", p.target}};
  if (p.correct >= 0) j["correct_id"] = p.correct;
  if (p.incorrect >= 0) j["incorrect_id"] = p.incorrect;
  for (const auto& s : p.spans) j["spans"].push_back({{"name", s.name}, {"first", s.first}, {"last", s.last}});
  return j.dump();
}

}  // namespace patchbay

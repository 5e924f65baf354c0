#pragma once
// JSON-valued attributes of result files (summary, config, provenance).
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "patchbay/io/h5_reader.hpp"

namespace patchbay {

// Result files nest their JSON a few levels deep; deeper nesting is refused before anything
// recursive (printing, reports) meets it.
inline constexpr int kMaxJsonDepth = 256;

// `text` parsed as JSON; throws FormatError naming `what` when it is not valid JSON or nests
// deeper than kMaxJsonDepth.
nlohmann::json parse_result_json(const std::string& text, const std::string& what);

// The attribute parsed as JSON; null when absent. Throws FormatError naming the file and the
// attribute when it is not valid JSON or nests too deep.
nlohmann::json read_json_attribute(const H5Reader& in, const std::string& key, const std::string& object = "/");

// What a JSON field of a result file must be, in words ("a string", "a number", ...).
template <typename T>
constexpr const char* json_kind() {
  if constexpr (std::is_same_v<T, std::string>) return "a string";
  else if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else return "a JSON object";
}
[[noreturn]] void fail_json_field(const std::string& what, const std::string& key, const nlohmann::json& found, const char* expected);

// Field `key` of the JSON object `j` (read from `what`, e.g. "'run.h5': attribute 'summary'") as
// T; `fallback` when `j` is not an object or lacks the field. FormatError naming `what`, the
// field, what it holds and what it should hold when it has another type (summary.main_layer
// an array, say), instead of the JSON library's anonymous type_error.
template <typename T>
T json_field(const nlohmann::json& j, const std::string& key, const T& fallback, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || j.at(key).is_null()) return fallback;
  const auto& v = j.at(key);
  const bool ok = std::is_same_v<T, std::string> ? v.is_string()
                  : std::is_same_v<T, bool>      ? v.is_boolean()
                  : std::is_integral_v<T>        ? v.is_number_integer()
                  : std::is_floating_point_v<T>  ? v.is_number()
                                                 : v.is_object();
  if (!ok) fail_json_field(what, key, v, json_kind<T>());
  return v.get<T>();
}
// The same for a field that must be there.
template <typename T>
T json_required(const nlohmann::json& j, const std::string& key, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || j.at(key).is_null()) fail_json_field(what, key, nullptr, json_kind<T>());
  return json_field<T>(j, key, T{}, what);
}

}  // namespace patchbay

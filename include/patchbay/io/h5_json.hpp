#pragma once
// JSON-valued attributes of result files (summary, config, provenance).
#include <string>

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

}  // namespace patchbay

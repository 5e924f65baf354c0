#pragma once
// JSON-valued attributes of result files (summary, config, provenance).
#include <string>

#include <nlohmann/json.hpp>

#include "patchbay/io/h5_reader.hpp"

namespace patchbay {

// The attribute parsed as JSON; null when absent. Throws FormatError naming the file and the
// attribute when it is not valid JSON.
nlohmann::json read_json_attribute(const H5Reader& in, const std::string& key, const std::string& object = "/");

}  // namespace patchbay

#include "patchbay/io/h5_json.hpp"

#include "patchbay/core/error.hpp"

namespace patchbay {

nlohmann::json read_json_attribute(const H5Reader& in, const std::string& key, const std::string& object) {
  const auto text = in.attribute(key, object);
  if (!text) return nullptr;
  try {
    return nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception&) {
    fail<FormatError>("'{}': attribute '{}' is not valid JSON", in.path(), key);
  }
}

}  // namespace patchbay

#include "patchbay/io/h5_json.hpp"

#include "patchbay/core/error.hpp"

namespace patchbay {

namespace {
struct TooDeep {};
}  // namespace

nlohmann::json parse_result_json(const std::string& text, const std::string& what) {
  // The parser itself is iterative; the callback stops it at the first container too deep.
  auto bounded = [](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    using E = nlohmann::json::parse_event_t;
    if ((event == E::object_start || event == E::array_start) && depth >= kMaxJsonDepth) throw TooDeep{};
    return true;
  };
  try {
    return nlohmann::json::parse(text, bounded);
  } catch (const TooDeep&) {
    fail<FormatError>("{} nests deeper than {} levels (result files hold a few)", what, kMaxJsonDepth);
  } catch (const nlohmann::json::exception&) {
    fail<FormatError>("{} is not valid JSON", what);
  }
}

void fail_json_field(const std::string& what, const std::string& key, const nlohmann::json& found, const char* expected) {
  if (found.is_null()) fail<FormatError>("{}: field '{}' is missing; expected {}", what, key, expected);
  fail<FormatError>("{}: field '{}' is {}, expected {}", what, key, found.type_name(), expected);
}

nlohmann::json read_json_attribute(const H5Reader& in, const std::string& key, const std::string& object) {
  const auto text = in.attribute(key, object);
  if (!text) return nullptr;
  return parse_result_json(*text, fmt::format("'{}': attribute '{}'", in.path(), key));
}

}  // namespace patchbay

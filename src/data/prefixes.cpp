#include "patchbay/data/prefixes.hpp"

#include <nlohmann/json.hpp>

#include "patchbay/core/error.hpp"

namespace patchbay {
extern const char* const kPrefixesJson;  // generated from datasets/prefixes.json

namespace {
const nlohmann::json& table() {
  static const nlohmann::json t = nlohmann::json::parse(kPrefixesJson);
  return t;
}
}  // namespace

std::vector<std::string> prefix_names() {
  std::vector<std::string> out;
  for (const auto& [name, value] : table().items())
    if (name[0] != '_') out.push_back(name);
  return out;
}

std::string prefix_named(const std::string& name) {
  const auto& t = table();
  if (name.empty() || name[0] == '_' || !t.contains(name)) {
    std::string names;
    for (const auto& n : prefix_names()) names += (names.empty() ? "" : ", ") + n;
    fail<InputError>("unknown prefix '{}' (known: {})", name, names);
  }
  return t[name].get<std::string>();
}

}  // namespace patchbay

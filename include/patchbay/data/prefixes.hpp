#pragma once
// Named prompt prefixes, from datasets/prefixes.json (compiled in).
#include <string>
#include <vector>

namespace patchbay {

inline constexpr const char* kDefaultPrefix =
    "The United States Declaration of Independence received its first formal public reading, in Philadelphia.\nWhen";

// Throws InputError listing the names when `name` is unknown.
std::string prefix_named(const std::string& name);
std::vector<std::string> prefix_names();

}  // namespace patchbay

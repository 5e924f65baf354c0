#include "args.hpp"

#include "patchbay/core/error.hpp"

namespace patchbay::cli {

std::vector<std::string> split_list(const std::string& text, const char* separators, bool keep_empty) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto sep = text.find_first_of(separators, start);
    auto part = text.substr(start, sep == std::string::npos ? std::string::npos : sep - start);
    if (keep_empty || !part.empty()) out.push_back(part);
    if (sep == std::string::npos) break;
    start = sep + 1;
  }
  return out;
}

int parse_int(const std::string& text, const char* what) {
  try {
    std::size_t used = 0;
    int v = std::stoi(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  fail<InputError>("{}: '{}' is not an integer", what, text);
}

}  // namespace patchbay::cli

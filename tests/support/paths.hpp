#pragma once
// Locations of the test data, all inside the repository: the independent reference outputs
// (tests/data/reference, a byte-for-byte copy of ../shared/reference made by
// scripts/copy_reference.sh) and the embedded models (third_party/models). No test needs
// anything outside the checkout, so none skips for want of data.
#include <filesystem>
#include <string>

namespace patchbay::test {
inline std::string source_dir() { return PATCHBAY_SOURCE_DIR; }
inline std::string reference(const std::string& rel) { return (std::filesystem::path(source_dir()) / "tests" / "data" / "reference" / rel).string(); }
inline std::string models(const std::string& rel) { return (std::filesystem::path(source_dir()) / "third_party" / "models" / rel).string(); }
inline bool have(const std::string& path) { return std::filesystem::exists(path); }
}  // namespace patchbay::test

// For optional tools (Chromium): skipping says so.
#define PATCHBAY_SKIP_OPTIONAL_TOOL(message) \
  do {                                       \
    WARN("skipped: " << message);            \
    return;                                  \
  } while (false)

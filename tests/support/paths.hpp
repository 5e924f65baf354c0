#pragma once
// Locations of reference data and models for the tests (../shared beside the checkout).
#include <filesystem>
#include <string>

namespace patchbay::test {
inline std::string shared_dir() { return PATCHBAY_SHARED_DIR; }
inline std::string reference(const std::string& rel) { return (std::filesystem::path(shared_dir()) / "reference" / rel).string(); }
inline std::string models(const std::string& rel) { return (std::filesystem::path(shared_dir()) / "models" / rel).string(); }
inline bool have(const std::string& path) { return std::filesystem::exists(path); }
}  // namespace patchbay::test

// Catch2 v2 has no SKIP: say why and leave the test case.
#define PATCHBAY_SKIP(message)           \
  do {                                   \
    WARN("skipped: " << message);        \
    return;                              \
  } while (false)

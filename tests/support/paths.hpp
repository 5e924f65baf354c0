#pragma once
// Locations of reference data and models for the tests (../shared beside the checkout).
#include <cstdlib>
#include <filesystem>
#include <string>

namespace patchbay::test {
inline std::string shared_dir() { return PATCHBAY_SHARED_DIR; }
inline std::string reference(const std::string& rel) { return (std::filesystem::path(shared_dir()) / "reference" / rel).string(); }
inline std::string models(const std::string& rel) { return (std::filesystem::path(shared_dir()) / "models" / rel).string(); }
inline bool have(const std::string& path) { return std::filesystem::exists(path); }
// Whether the references and models must be there: under CI (CI=true), where the test command
// runs beside ../shared, a missing one is a failure, never a skip.
inline bool shared_data_required() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}
}  // namespace patchbay::test

// Catch2 v2 has no SKIP. PATCHBAY_SKIP is for missing reference data or models: it says why and
// leaves the test case, except where the data is required (CI), where it fails the test.
#define PATCHBAY_SKIP(message)                                       \
  do {                                                               \
    if (patchbay::test::shared_data_required()) FAIL("required under CI=true: " << message); \
    WARN("skipped: " << message);                                    \
    return;                                                          \
  } while (false)

// For optional tools (Chromium): skipping says so, under CI too.
#define PATCHBAY_SKIP_OPTIONAL_TOOL(message) \
  do {                                       \
    WARN("skipped: " << message);            \
    return;                                  \
  } while (false)

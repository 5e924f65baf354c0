#pragma once
// Whole files written atomically: to a temporary name in the same directory, renamed onto the
// final one when complete (removed on failure, and on SIGINT/SIGTERM).
#include <string>

namespace patchbay {

void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace patchbay

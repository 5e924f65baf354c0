#pragma once

namespace patchbay {
// Semantic version of the library, e.g. "0.1.0".
const char* library_version();
// Short git commit the library was built from, or "unknown" outside a checkout.
const char* git_commit();
// The source checkout the library was built from (absolute), e.g. to find models beside it.
const char* source_dir();
}  // namespace patchbay

#pragma once
#include <string>

#include <c10/util/ArrayRef.h>

namespace patchbay {
// "[2, 5, 64]": tensor shapes in error messages.
std::string shape_str(c10::IntArrayRef sizes);
}  // namespace patchbay

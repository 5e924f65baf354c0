#include "patchbay/core/shape.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace patchbay {
std::string shape_str(c10::IntArrayRef sizes) { return fmt::format("[{}]", fmt::join(sizes, ", ")); }
}  // namespace patchbay

// Fuzz target: the safetensors header parser must accept or throw FormatError, never crash,
// and every tensor it accepts must lie inside the data section without overlaps.
#include <cstddef>
#include <cstdint>

#include "patchbay/core/error.hpp"
#include "patchbay/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto h = patchbay::parse_safetensors_header(data, size, "fuzz");
    for (const auto& [name, t] : h.tensors)
      if (t.end < t.begin || h.data_start + t.end > size) __builtin_trap();
  } catch (const patchbay::FormatError&) {
  }
  return 0;
}

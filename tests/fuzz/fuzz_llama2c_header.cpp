// Fuzz target: the llama2.c header parser accepts only headers whose implied size is the
// file's size; anything else is a FormatError.
#include <cstddef>
#include <cstdint>

#include "patchbay/core/error.hpp"
#include "patchbay/model/llama2c_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto h = patchbay::parse_llama2c_header(data, size, "fuzz");
    if (patchbay::kLlama2cHeaderBytes + 4 * patchbay::llama2c_weight_count(h) != size) __builtin_trap();
    patchbay::llama2c_config(h, "fuzz").validate("fuzz");
  } catch (const patchbay::FormatError&) {
  }
  return 0;
}

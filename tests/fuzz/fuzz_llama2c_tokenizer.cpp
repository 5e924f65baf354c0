// Fuzz target: the llama2.c tokenizer encodes any bytes (byte fallback) and decodes them back
// exactly; the parser of tokenizer.bin itself must never crash on hostile files.
#include <cstddef>
#include <cstdint>
#include <string>

#include "patchbay/core/error.hpp"
#include "patchbay/tokenizer/llama2c.hpp"
#include "tokenizer_fixture.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto tok = patchbay::fuzz::llama2c();
  const std::string text(reinterpret_cast<const char*>(data), std::min<std::size_t>(size, 2048));
  const auto ids = tok->encode(text, /*bos=*/true);
  for (auto id : ids)
    if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
  if (tok->decode(ids) != text) __builtin_trap();
  try {  // the same bytes as a tokenizer.bin
    patchbay::Llama2cTokenizer::from_bytes(data, size, "fuzz");
  } catch (const patchbay::FormatError&) {
  }
  return 0;
}

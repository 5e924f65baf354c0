// Fuzz target: GPT-2's byte-level BPE encodes any bytes and decodes them back exactly.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tokenizer_fixture.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto tok = patchbay::fuzz::gpt2();
  const std::string text(reinterpret_cast<const char*>(data), std::min<std::size_t>(size, 4096));
  const auto ids = tok->encode(text);
  for (auto id : ids)
    if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
  if (tok->decode(ids) != text) __builtin_trap();
  return 0;
}

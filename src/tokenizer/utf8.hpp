#pragma once
// UTF-8 helpers shared by both tokenizers (internal to src/tokenizer).
#include <cstdint>
#include <string>
#include <string_view>

namespace patchbay::detail {

// Length of the UTF-8 sequence starting at text[i], or 1 for an invalid/truncated one
// (which callers then treat as a single raw byte).
std::size_t utf8_length(std::string_view text, std::size_t i);

// Decodes the code point at text[i] (length from utf8_length); invalid bytes decode to
// 0xFFFFFFFF so they match no Unicode category.
std::uint32_t utf8_decode(std::string_view text, std::size_t i, std::size_t length);

void utf8_append(std::string& out, std::uint32_t code_point);

}  // namespace patchbay::detail

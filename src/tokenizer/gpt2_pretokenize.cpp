// GPT-2's pre-tokenization pattern as a hand-written scanner (no regex engine here supports
// \p{L} and \p{N}); Unicode categories come from ICU.
#include <unicode/uchar.h>

#include <vector>

#include "patchbay/tokenizer/gpt2_bpe.hpp"
#include "utf8.hpp"

namespace patchbay {
namespace {

enum class Cls { Letter, Number, Space, Other };

// \s as in the ECMAScript pattern the reference tokenizers run.
bool is_space(std::uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

Cls classify(std::uint32_t c) {
  if (c == 0xFFFFFFFFu) return Cls::Other;  // invalid UTF-8 byte
  if (is_space(c)) return Cls::Space;
  auto mask = U_GET_GC_MASK(static_cast<UChar32>(c));
  if (mask & U_GC_L_MASK) return Cls::Letter;
  if (mask & U_GC_N_MASK) return Cls::Number;
  return Cls::Other;
}

struct Char {
  std::size_t offset;
  std::size_t length;
  std::uint32_t cp;
  Cls cls;
};

}  // namespace

std::vector<std::string> gpt2_pretokenize(std::string_view text) {
  std::vector<Char> chars;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = detail::utf8_length(text, i);
    std::uint32_t cp = detail::utf8_decode(text, i, n);
    chars.push_back({i, n, cp, classify(cp)});
    i += n;
  }
  std::vector<std::string> out;
  const std::size_t N = chars.size();
  auto emit = [&](std::size_t from, std::size_t to) {  // chars [from, to)
    std::size_t begin = chars[from].offset;
    std::size_t end = to < N ? chars[to].offset : text.size();
    out.emplace_back(text.substr(begin, end - begin));
  };
  auto run_of = [&](std::size_t from, auto pred) {
    std::size_t j = from;
    while (j < N && pred(chars[j])) ++j;
    return j;
  };

  std::size_t i = 0;
  while (i < N) {
    // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive, as in GPT-2)
    if (chars[i].cp == '\'' && i + 1 < N) {
      auto c1 = chars[i + 1].cp;
      std::uint32_t c2 = i + 2 < N ? chars[i + 2].cp : 0;
      std::size_t len = 0;
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') len = 2;
      else if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) len = 3;
      if (len > 0) {
        emit(i, i + len);
        i += len;
        continue;
      }
    }
    // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional literal space then a run of one class.
    std::size_t start = i;
    std::size_t body = (chars[i].cp == ' ' && i + 1 < N && chars[i + 1].cls != Cls::Space) ? i + 1 : i;
    Cls cls = chars[body].cls;
    if (cls != Cls::Space) {
      std::size_t end = run_of(body, [cls](const Char& c) { return c.cls == cls; });
      emit(start, end);
      i = end;
      continue;
    }
    // '\s+(?!\S)': whitespace not followed by a non-space; backtracks one character so the
    // last space can join the next word. Otherwise '\s+'.
    std::size_t end = run_of(i, [](const Char& c) { return c.cls == Cls::Space; });
    if (end < N && end - i > 1) end -= 1;
    emit(i, end);
    i = end;
  }
  return out;
}

}  // namespace patchbay

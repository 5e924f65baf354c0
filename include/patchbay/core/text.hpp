#pragma once
// Text that ends up in XML (SVG, HTML, GraphML).
#include <string>
#include <string_view>

namespace patchbay {

// XML-escapes text; bytes that are not valid UTF-8 (a byte-level BPE token can be half a
// character) and control characters become visible "\xNN" escapes, so output stays well-formed.
std::string escape_xml(const std::string& text);
// The same escapes without XML's entities: text from files (a result's kind, a token) printed
// on a terminal, where raw control bytes could move the cursor or rewrite the screen.
std::string escape_text(const std::string& text);

// A span of a position-aware circuit is named by 1..64 letters, digits and '_', so names built
// from it ("a1.h6@w2", "m0@w1->a1.h6<k>@w3") always parse back.
bool is_span_name(std::string_view name);

}  // namespace patchbay

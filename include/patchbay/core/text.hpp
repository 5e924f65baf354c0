#pragma once
// Text that ends up in XML (SVG, HTML, GraphML).
#include <string>

namespace patchbay {

// XML-escapes text; bytes that are not valid UTF-8 (a byte-level BPE token can be half a
// character) and control characters become visible "\xNN" escapes, so output stays well-formed.
std::string escape_xml(const std::string& text);

}  // namespace patchbay

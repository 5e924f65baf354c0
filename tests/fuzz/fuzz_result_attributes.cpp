// Fuzz target: the readers of a result file's attributes (kind, summary, config, provenance)
// given well-formed HDF5 whose attribute strings are arbitrary bytes: every JSON attribute is
// parsed (depth-bounded) and every field read as each type the readers ask for; each read
// succeeds or throws patchbay::Error, and printing escapes what it prints. (Raw bytes as an
// HDF5 file would fuzz the HDF5 library itself, not patchbay.)
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "patchbay/core/error.hpp"
#include "patchbay/core/text.hpp"
#include "patchbay/io/h5_json.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace {

// Every field of `j`, read as each type a reader asks for, and recursively into objects.
void read_fields(const nlohmann::json& j, const std::string& what, int depth) {
  if (!j.is_object() || depth > 4) return;
  for (const auto& [key, value] : j.items()) {
    try {
      (void)patchbay::json_field<std::string>(j, key, "", what);
    } catch (const patchbay::Error&) {
    }
    try {
      (void)patchbay::json_field<double>(j, key, 0.0, what);
    } catch (const patchbay::Error&) {
    }
    try {
      (void)patchbay::json_field<std::int64_t>(j, key, 0, what);
    } catch (const patchbay::Error&) {
    }
    try {
      (void)patchbay::json_field<bool>(j, key, false, what);
    } catch (const patchbay::Error&) {
    }
    try {
      read_fields(patchbay::json_required<nlohmann::json>(j, key, what), what, depth + 1);
    } catch (const patchbay::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The input is the four attributes' texts, separated by NUL bytes.
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> texts(4);
  for (std::size_t i = 0, field = 0; i < bytes.size() && field < texts.size(); ++i) {
    if (bytes[i] == '\0') ++field;
    else texts[field] += bytes[i];
  }
  const char* keys[] = {"kind", "summary", "config", "provenance"};
  const auto path = "/tmp/patchbay-fuzz-attributes-" + std::to_string(::getpid()) + ".h5";
  {
    patchbay::H5Writer out(path, /*overwrite=*/true);
    for (std::size_t i = 0; i < texts.size(); ++i) out.write_attribute(keys[i], texts[i]);
    out.commit();
  }
  patchbay::H5Reader in(path);
  (void)patchbay::escape_text(in.attribute("kind").value_or(""));
  for (const char* key : {"summary", "config", "provenance"}) {
    try {
      const auto j = patchbay::read_json_attribute(in, key);
      read_fields(j, key, 0);
      (void)patchbay::escape_text(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } catch (const patchbay::Error&) {
    }
  }
  ::unlink(path.c_str());
  return 0;
}

// The safetensors header parser: no tensor library needed (it is also the fuzzing entry point).
#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "patchbay/core/error.hpp"
#include "patchbay/io/safetensors_header.hpp"

namespace patchbay {
namespace {

struct DtypeInfo {
  const char* name;
  StDtype dtype;
  std::uint64_t bytes;
};
constexpr DtypeInfo kDtypes[] = {
    {"F64", StDtype::F64, 8}, {"F32", StDtype::F32, 4}, {"F16", StDtype::F16, 2},  {"BF16", StDtype::BF16, 2},
    {"I64", StDtype::I64, 8}, {"I32", StDtype::I32, 4}, {"I16", StDtype::I16, 2},  {"I8", StDtype::I8, 1},
    {"U8", StDtype::U8, 1},   {"BOOL", StDtype::BOOL, 1}};

const DtypeInfo& dtype_info(StDtype d) {
  for (const auto& info : kDtypes)
    if (info.dtype == d) return info;
  throw Error("internal: unknown safetensors dtype");
}

std::string known_dtypes() {
  std::string out;
  for (const auto& info : kDtypes) out += std::string(out.empty() ? "" : ", ") + info.name;
  return out;
}

// nlohmann keeps the last of duplicate keys silently; a checkpoint with two entries for one
// tensor is ambiguous, so reject it while parsing.
nlohmann::json parse_header_json(const char* text, std::size_t n, const std::string& what) {
  std::vector<std::set<std::string>> seen_keys;
  std::string duplicate;
  auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) seen_keys.emplace_back();
    if (event == E::object_end && !seen_keys.empty()) seen_keys.pop_back();
    if (event == E::key && !seen_keys.empty() && !seen_keys.back().insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    (void)depth;
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, text + n, callback);
  } catch (const nlohmann::json::exception& e) {
    fail<FormatError>("{}: safetensors header is not valid JSON ({})", what, e.what());
  }
  if (!duplicate.empty()) fail<FormatError>("{}: safetensors header names '{}' more than once", what, duplicate);
  if (!header.is_object()) fail<FormatError>("{}: safetensors header must be a JSON object", what);
  return header;
}

std::uint64_t checked_numel_bytes(const StTensorInfo& t, const std::string& what) {
  std::uint64_t count = 1;
  for (std::int64_t d : t.shape) {
    if (d < 0) fail<FormatError>("{}: tensor '{}' has negative dimension {}", what, t.name, d);
    if (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(d))
      fail<FormatError>("{}: tensor '{}' has a shape whose element count overflows", what, t.name);
    count *= static_cast<std::uint64_t>(d);
  }
  std::uint64_t bytes = dtype_info(t.dtype).bytes;
  if (count > std::numeric_limits<std::uint64_t>::max() / bytes)
    fail<FormatError>("{}: tensor '{}' has a shape whose byte size overflows", what, t.name);
  return count * bytes;
}

StTensorInfo parse_entry(const std::string& name, const nlohmann::json& entry, const std::string& what) {
  StTensorInfo t;
  t.name = name;
  if (!entry.is_object()) fail<FormatError>("{}: entry for tensor '{}' must be an object", what, name);
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(key)) fail<FormatError>("{}: tensor '{}' lacks the '{}' field", what, name, key);

  const auto& dtype = entry["dtype"];
  if (!dtype.is_string()) fail<FormatError>("{}: tensor '{}': dtype must be a string", what, name);
  const auto* info = std::find_if(std::begin(kDtypes), std::end(kDtypes),
                                  [&](const DtypeInfo& d) { return dtype.get<std::string>() == d.name; });
  if (info == std::end(kDtypes))
    fail<FormatError>("{}: tensor '{}' has unknown dtype '{}' (expected one of {})", what, name,
                      dtype.get<std::string>(), known_dtypes());
  t.dtype = info->dtype;

  const auto& shape = entry["shape"];
  if (!shape.is_array() || shape.size() > 8)
    fail<FormatError>("{}: tensor '{}': shape must be an array of at most 8 non-negative integers", what, name);
  for (const auto& d : shape) {
    if (!d.is_number_unsigned() || d.get<std::uint64_t>() > (1ull << 40))
      fail<FormatError>("{}: tensor '{}': shape must hold non-negative integers below 2^40, got {}", what, name,
                        d.dump());
    t.shape.push_back(static_cast<std::int64_t>(d.get<std::uint64_t>()));
  }

  const auto& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    fail<FormatError>("{}: tensor '{}': data_offsets must be [begin, end] with non-negative integers", what, name);
  t.begin = offsets[0].get<std::uint64_t>();
  t.end = offsets[1].get<std::uint64_t>();
  if (t.end < t.begin)
    fail<FormatError>("{}: tensor '{}': data_offsets end {} is before begin {}", what, name, t.end, t.begin);
  std::uint64_t expected = checked_numel_bytes(t, what);
  if (t.end - t.begin != expected)
    fail<FormatError>("{}: tensor '{}' spans {} bytes but dtype {} x shape {} needs {}", what, name, t.end - t.begin,
                      info->name, shape.dump(), expected);
  return t;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const std::uint8_t* bytes, std::size_t size, const std::string& what) {
  if (size < 8) fail<FormatError>("{}: file is {} bytes, too short for a safetensors header (need >= 8)", what, size);
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
  if (header_len > kMaxSafetensorsHeader)
    fail<FormatError>("{}: safetensors header length {} is absurd (limit {} bytes)", what, header_len,
                      kMaxSafetensorsHeader);
  if (header_len > size - 8)
    fail<FormatError>("{}: safetensors header length {} exceeds the file size {}", what, header_len, size);

  SafetensorsHeader out;
  out.data_start = 8 + header_len;
  const std::uint64_t data_size = size - out.data_start;
  auto json = parse_header_json(reinterpret_cast<const char*>(bytes + 8), header_len, what);

  std::vector<const StTensorInfo*> by_offset;
  for (const auto& [name, entry] : json.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail<FormatError>("{}: __metadata__ must be an object of strings", what);
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) fail<FormatError>("{}: __metadata__ value for '{}' must be a string", what, key);
        out.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    StTensorInfo t = parse_entry(name, entry, what);
    if (t.end > data_size)
      fail<FormatError>("{}: tensor '{}' data_offsets [{}, {}] run past the data section ({} bytes)", what, name,
                        t.begin, t.end, data_size);
    by_offset.push_back(&out.tensors.emplace(name, std::move(t)).first->second);
  }

  // Data ranges must not overlap: two tensors sharing bytes is a malformed (or hostile) file.
  std::sort(by_offset.begin(), by_offset.end(), [](const StTensorInfo* a, const StTensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const auto* prev = by_offset[i - 1];
    const auto* cur = by_offset[i];
    if (cur->begin < prev->end && cur->end > cur->begin)
      fail<FormatError>("{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", what, prev->name, prev->begin,
                        prev->end, cur->name, cur->begin, cur->end);
  }
  return out;
}

const char* to_string(StDtype d) { return dtype_info(d).name; }

}  // namespace patchbay

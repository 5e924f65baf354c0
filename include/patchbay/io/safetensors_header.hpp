#pragma once
// The safetensors header: an 8-byte little-endian length, then a JSON object describing each
// tensor's dtype, shape and byte range. Parsed and validated without a tensor library.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace patchbay {

enum class StDtype { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

struct StTensorInfo {
  std::string name;
  StDtype dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte offsets relative to the start of the data section
  std::uint64_t end = 0;
};

// Parsed, validated header. Pure function of the bytes: also the fuzzing entry point.
struct SafetensorsHeader {
  std::map<std::string, StTensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;  // offset of the data section in the file
};

// Largest header accepted (the format's own reference implementation uses 100 MB).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100ull << 20;

// `what` names the file in error messages.
SafetensorsHeader parse_safetensors_header(const std::uint8_t* bytes, std::size_t size, const std::string& what);

const char* to_string(StDtype dtype);

}  // namespace patchbay

#pragma once
// safetensors reader: an 8-byte little-endian header length, a JSON header describing each
// tensor's dtype, shape and byte range, then the raw data. Everything in the header is
// validated before any tensor memory is allocated; nothing in the file is ever executed.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/io/mapped_file.hpp"

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

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const std::map<std::string, StTensorInfo>& tensors() const { return header_.tensors; }
  bool contains(const std::string& name) const { return header_.tensors.count(name) != 0; }

  // Copies the named tensor into a new float32 CPU tensor (F16/BF16/F64 are converted).
  // Throws FormatError naming the file and tensor when it is missing or not a float type.
  at::Tensor load_f32(const std::string& name) const;

 private:
  MappedFile file_;
  SafetensorsHeader header_;
};

}  // namespace patchbay

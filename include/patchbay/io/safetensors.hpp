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
#include "patchbay/io/safetensors_header.hpp"

namespace patchbay {

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

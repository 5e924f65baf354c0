#include "patchbay/io/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"

namespace patchbay {

SafetensorsFile::SafetensorsFile(const std::string& path)
    : file_(path), header_(parse_safetensors_header(file_.data(), file_.size(), path)) {}

at::Tensor SafetensorsFile::load_f32(const std::string& name) const {
  auto it = header_.tensors.find(name);
  if (it == header_.tensors.end()) fail<FormatError>("{}: tensor '{}' is missing", path(), name);
  const StTensorInfo& t = it->second;
  at::ScalarType source;
  switch (t.dtype) {
    case StDtype::F32: source = at::kFloat; break;
    case StDtype::F16: source = at::kHalf; break;
    case StDtype::BF16: source = at::kBFloat16; break;
    case StDtype::F64: source = at::kDouble; break;
    default:
      fail<FormatError>("{}: tensor '{}' has dtype {}, expected a float type (F32, F16, BF16, F64)", path(), name,
                        to_string(t.dtype));
  }
  // Copy out of the mapping (the file may be unaligned for the dtype), then convert.
  auto raw = at::empty(t.shape, at::TensorOptions().dtype(source));
  if (t.end > t.begin) std::memcpy(raw.data_ptr(), file_.data() + header_.data_start + t.begin, t.end - t.begin);
  return source == at::kFloat ? raw : raw.to(at::kFloat);
}

}  // namespace patchbay

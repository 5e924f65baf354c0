#include "patchbay/io/safetensors_writer.hpp"

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "patchbay/core/error.hpp"
#include "patchbay/io/atomic_file.hpp"

namespace patchbay {
namespace {
const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kLong: return "I64";
    default: fail<InputError>("safetensors export supports float32, float16, bfloat16 and int64, not {}", at::toString(t));
  }
}
}  // namespace

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string data;
  for (const auto& [name, tensor] : tensors) {
    auto t = tensor.detach().to(at::kCPU).contiguous();
    const auto begin = data.size();
    data.append(static_cast<const char*>(t.data_ptr()), static_cast<std::size_t>(t.nbytes()));
    header[name] = {{"dtype", dtype_name(t.scalar_type())}, {"shape", t.sizes().vec()}, {"data_offsets", {begin, data.size()}}};
  }
  std::string text = header.dump();
  while ((text.size() + 8) % 8 != 0) text += ' ';  // the format pads the header with spaces to 8 bytes
  std::string file(8, '\0');
  std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) file[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  write_file_atomic(path, file + text + data);
}


}  // namespace patchbay

#pragma once
// Reads HDF5 result files: datasets as tensors, string attributes. Errors from the HDF5
// library are turned into FormatError naming the file and the object.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace H5 {
class H5File;
}

namespace patchbay {

class H5Reader {
 public:
  // Throws FormatError when the file is missing or not HDF5.
  explicit H5Reader(const std::string& path);
  ~H5Reader();
  H5Reader(H5Reader&&) noexcept;
  H5Reader& operator=(H5Reader&&) noexcept;

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const;
  // Full paths of every dataset ("blocks.0.hook_resid_pre", "probe/weights", ...), sorted.
  std::vector<std::string> datasets() const;
  // float datasets load as float32, integer ones as int64. `max_elements` guards against a
  // hostile file declaring a huge dataset.
  at::Tensor read_tensor(const std::string& name, std::int64_t max_elements = std::int64_t(1) << 32) const;
  // The same, refusing (FormatError naming the file and dataset) a dataset of another rank
  // before reading it.
  at::Tensor read_tensor_of_rank(const std::string& name, std::int64_t rank, std::int64_t max_elements = std::int64_t(1) << 32) const;
  std::vector<std::int64_t> shape(const std::string& name) const;
  // 1-D numeric datasets as plain vectors (no tensor library involved).
  std::vector<std::int64_t> read_int64s(const std::string& name, std::int64_t max_count = 1 << 26) const;
  std::vector<double> read_doubles(const std::string& name, std::int64_t max_count = 1 << 26) const;
  // A 1-D dataset of strings (variable or fixed length).
  std::vector<std::string> read_strings(const std::string& name, std::int64_t max_count = 1 << 24) const;
  std::optional<std::string> attribute(const std::string& key, const std::string& object = "/") const;
  // The `axes` attribute of a dataset (one name per dimension); FormatError when it is missing
  // or does not match the dataset's rank.
  std::vector<std::string> axes(const std::string& dataset) const;
  // A numeric (integer or floating-point) scalar attribute; FormatError when it is of another type.
  std::optional<double> numeric_attribute(const std::string& key, const std::string& object = "/") const;

 private:
  struct Impl;
  friend const H5::H5File& h5_file(const H5Reader& r);
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace patchbay

// H5Reader::read_tensor: datasets as tensors (the only part of the reader that needs ATen).
#include <ATen/ATen.h>
#include <H5Cpp.h>

#include "h5_impl.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/shape.hpp"
#include "patchbay/io/h5_reader.hpp"

namespace patchbay {

at::Tensor H5Reader::read_tensor_of_rank(const std::string& name, std::int64_t rank, std::int64_t max_elements) const {
  if (!has(name)) fail<FormatError>("'{}' has no dataset '{}'", path_, name);
  const auto dims = shape(name);
  if (static_cast<std::int64_t>(dims.size()) != rank)
    fail<FormatError>("'{}': dataset '{}' has {} dimensions, expected {}", path_, name, dims.size(), rank);
  return read_tensor(name, max_elements);
}

at::Tensor H5Reader::read_tensor(const std::string& name, std::int64_t max_elements) const {
  auto dims = shape(name);
  std::int64_t count = 1;
  for (auto d : dims) {
    if (d != 0 && count > max_elements / d)
      fail<FormatError>("'{}': dataset '{}' of shape {} exceeds the {} element limit", path_, name, shape_str(dims),
                        max_elements);
    count *= d;
  }
  try {
    H5::DataSet ds = h5_file(*this).openDataSet(name);
    auto cls = ds.getTypeClass();
    if (cls == H5T_FLOAT) {
      auto t = at::empty(dims, at::kFloat);
      ds.read(t.data_ptr(), H5::PredType::NATIVE_FLOAT);
      return t;
    }
    if (cls == H5T_INTEGER) {
      auto t = at::empty(dims, at::kLong);
      ds.read(t.data_ptr(), H5::PredType::NATIVE_INT64);
      return t;
    }
    fail<FormatError>("'{}': dataset '{}' is neither float nor integer", path_, name);
  } catch (const H5::Exception& e) {
    fail<FormatError>("'{}': cannot read dataset '{}': {}", path_, name, e.getDetailMsg());
  }
}

}  // namespace patchbay

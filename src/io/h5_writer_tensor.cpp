// H5Writer's tensor datasets (the only part of the writer that needs ATen).
#include <algorithm>

#include <ATen/ATen.h>
#include <H5Cpp.h>

#include "h5_impl.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {

void H5Writer::write_tensor(const std::string& name, const at::Tensor& tensor, const DatasetDoc& doc) {
  start_write();
  auto t = tensor.detach().to(at::kCPU).contiguous();
  H5::PredType type = H5::PredType::NATIVE_FLOAT;
  if (t.scalar_type() == at::kLong) type = H5::PredType::NATIVE_INT64;
  else if (t.scalar_type() != at::kFloat) t = t.to(at::kFloat);
  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  try {
    H5::DataSpace space = dims.empty() ? H5::DataSpace(H5S_SCALAR) : H5::DataSpace(static_cast<int>(dims.size()), dims.data());
    H5::Group parent = ensure_parent_groups(h5_file(*this), name);
    auto leaf = name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
    H5::DataSet ds = parent.createDataSet(leaf, type, space);
    CloseOnce closes(ds);
    ds.write(t.data_ptr(), type);
  } catch (const H5::Exception& e) {
    fail<Error>("writing dataset '{}' to '{}' failed: {}", name, path_, h5_failure(e));
  }
  describe(name, dims.size(), doc);
}

void H5Writer::append_rows(const std::string& name, const at::Tensor& rows_in, const DatasetDoc& doc) {
  start_write();
  auto rows = rows_in.detach().to(at::kCPU, at::kFloat).contiguous();
  if (rows.dim() < 1) fail<InputError>("append_rows('{}') needs at least one dimension", name);
  std::vector<hsize_t> dims(rows.sizes().begin(), rows.sizes().end());
  try {
    H5::Group parent = ensure_parent_groups(h5_file(*this), name);
    auto leaf = name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
    H5::DataSet ds;
    CloseOnce closes(ds);  // whichever dataset `ds` holds when the scope ends
    hsize_t offset = 0;
    const bool first_rows = !parent.nameExists(leaf);
    if (first_rows) {
      std::vector<hsize_t> initial = dims, max = dims, chunk = dims;
      initial[0] = 0;
      max[0] = H5S_UNLIMITED;
      // ~1 MiB chunks along the first axis.
      hsize_t row_bytes = 4;
      for (std::size_t i = 1; i < dims.size(); ++i) row_bytes *= dims[i];
      chunk[0] = std::max<hsize_t>(1, (1u << 20) / std::max<hsize_t>(row_bytes, 1));
      H5::DSetCreatPropList props;
      props.setChunk(static_cast<int>(chunk.size()), chunk.data());
      H5::DataSpace space(static_cast<int>(dims.size()), initial.data(), max.data());
      ds = parent.createDataSet(leaf, H5::PredType::NATIVE_FLOAT, space, props);
    } else {
      ds = parent.openDataSet(leaf);
      H5::DataSpace space = ds.getSpace();
      std::vector<hsize_t> current(static_cast<std::size_t>(space.getSimpleExtentNdims()));
      space.getSimpleExtentDims(current.data());
      if (current.size() != dims.size() || !std::equal(current.begin() + 1, current.end(), dims.begin() + 1))
        fail<InputError>("append_rows('{}'): rows do not match the dataset's other dimensions", name);
      offset = current[0];
    }
    std::vector<hsize_t> extent = dims;
    extent[0] += offset;
    ds.extend(extent.data());
    H5::DataSpace file_space = ds.getSpace();
    std::vector<hsize_t> start(dims.size(), 0);
    start[0] = offset;
    file_space.selectHyperslab(H5S_SELECT_SET, dims.data(), start.data());
    H5::DataSpace memory(static_cast<int>(dims.size()), dims.data());
    ds.write(rows.data_ptr(), H5::PredType::NATIVE_FLOAT, memory, file_space);
    if (first_rows) describe(name, dims.size(), doc);
  } catch (const H5::Exception& e) {
    fail<Error>("appending to dataset '{}' in '{}' failed: {}", name, path_, h5_failure(e));
  }
}

}  // namespace patchbay

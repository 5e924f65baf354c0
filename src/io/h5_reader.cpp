#include "patchbay/io/h5_reader.hpp"

#include "h5_impl.hpp"

#include <algorithm>
#include <filesystem>
#include <functional>

#include <H5Cpp.h>

#include "patchbay/core/error.hpp"

namespace patchbay {

H5Reader::H5Reader(const std::string& path) : path_(path) {
  H5::Exception::dontPrint();
  if (!std::filesystem::is_regular_file(path)) fail<FormatError>("'{}' does not exist or is not a file", path);
  try {
    if (!H5::H5File::isHdf5(path)) fail<FormatError>("'{}' is not an HDF5 file", path);
    impl_ = std::make_unique<Impl>(Impl{H5::H5File(path, H5F_ACC_RDONLY)});
  } catch (const H5::Exception& e) {
    fail<FormatError>("cannot open '{}' as HDF5: {}", path, e.getDetailMsg());
  }
}

H5Reader::~H5Reader() = default;
H5Reader::H5Reader(H5Reader&&) noexcept = default;
H5Reader& H5Reader::operator=(H5Reader&&) noexcept = default;

bool H5Reader::has(const std::string& name) const {
  try {
    // Walk the path one link at a time: nameExists on a nested path fails if a parent is missing.
    H5::Group group = impl_->file.openGroup("/");
    std::size_t start = 0;
    while (true) {
      auto slash = name.find('/', start);
      auto part = name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (part.empty() || !group.nameExists(part)) return false;
      if (slash == std::string::npos) return true;
      if (group.childObjType(part) != H5O_TYPE_GROUP) return false;
      group = group.openGroup(part);
      start = slash + 1;
    }
  } catch (const H5::Exception&) {
    return false;
  }
}

std::vector<std::string> H5Reader::datasets() const {
  std::vector<std::string> out;
  std::function<void(const H5::Group&, const std::string&, int)> walk = [&](const H5::Group& g, const std::string& prefix,
                                                                            int depth) {
    if (depth > 32) fail<FormatError>("'{}': groups nested deeper than 32 levels", path_);
    for (hsize_t i = 0; i < g.getNumObjs(); ++i) {
      std::string name = g.getObjnameByIdx(i);
      auto type = g.childObjType(name);
      if (type == H5O_TYPE_DATASET) out.push_back(prefix + name);
      else if (type == H5O_TYPE_GROUP) walk(g.openGroup(name), prefix + name + "/", depth + 1);
    }
  };
  try {
    walk(impl_->file.openGroup("/"), "", 0);
  } catch (const H5::Exception& e) {
    fail<FormatError>("'{}': cannot list datasets: {}", path_, e.getDetailMsg());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::int64_t> H5Reader::shape(const std::string& name) const {
  if (!has(name)) fail<FormatError>("'{}' has no dataset '{}'", path_, name);
  try {
    H5::DataSpace space = impl_->file.openDataSet(name).getSpace();
    if (space.getSimpleExtentType() == H5S_SCALAR) return {};
    int rank = space.getSimpleExtentNdims();
    if (rank < 0 || rank > 32) fail<FormatError>("'{}': dataset '{}' has rank {}", path_, name, rank);
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    space.getSimpleExtentDims(dims.data());
    return {dims.begin(), dims.end()};
  } catch (const H5::Exception& e) {
    fail<FormatError>("'{}': cannot read the shape of '{}': {}", path_, name, e.getDetailMsg());
  }
}

namespace {
template <typename T>
std::vector<T> read_column(const H5::H5File& file, const std::string& path, const std::string& name, const H5::PredType& type,
                           std::int64_t count) {
  std::vector<T> out(static_cast<std::size_t>(count));
  try {
    H5::DataSet ds = file.openDataSet(name);
    auto cls = ds.getTypeClass();
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) fail<FormatError>("'{}': dataset '{}' is not numeric", path, name);
    if (count > 0) ds.read(out.data(), type);
  } catch (const H5::Exception& e) {
    fail<FormatError>("'{}': cannot read dataset '{}': {}", path, name, e.getDetailMsg());
  }
  return out;
}
}  // namespace

std::vector<std::int64_t> H5Reader::read_int64s(const std::string& name, std::int64_t max_count) const {
  auto dims = shape(name);
  if (dims.size() != 1 || dims[0] > max_count) fail<FormatError>("'{}': dataset '{}' is not a list of at most {} numbers", path_, name, max_count);
  return read_column<std::int64_t>(impl_->file, path_, name, H5::PredType::NATIVE_INT64, dims[0]);
}

std::vector<double> H5Reader::read_doubles(const std::string& name, std::int64_t max_count) const {
  auto dims = shape(name);
  if (dims.size() != 1 || dims[0] > max_count) fail<FormatError>("'{}': dataset '{}' is not a list of at most {} numbers", path_, name, max_count);
  return read_column<double>(impl_->file, path_, name, H5::PredType::NATIVE_DOUBLE, dims[0]);
}

std::vector<std::string> H5Reader::read_strings(const std::string& name, std::int64_t max_count) const {
  auto dims = shape(name);
  if (dims.size() != 1 || dims[0] > max_count)
    fail<FormatError>("'{}': dataset '{}' is not a list of at most {} strings", path_, name, max_count);
  try {
    H5::DataSet ds = impl_->file.openDataSet(name);
    if (ds.getTypeClass() != H5T_STRING) fail<FormatError>("'{}': dataset '{}' does not hold strings", path_, name);
    H5::StrType type = ds.getStrType();
    std::vector<std::string> out;
    if (type.isVariableStr()) {
      std::vector<char*> raw(static_cast<std::size_t>(dims[0]), nullptr);
      if (!raw.empty()) ds.read(raw.data(), type);
      for (char* p : raw) out.emplace_back(p ? p : "");
      if (!raw.empty()) H5::DataSet::vlenReclaim(raw.data(), type, ds.getSpace());
    } else {
      const auto width = type.getSize();
      std::vector<char> raw(static_cast<std::size_t>(dims[0]) * width);
      if (!raw.empty()) ds.read(raw.data(), type);
      for (std::int64_t i = 0; i < dims[0]; ++i) {
        std::string s(raw.data() + i * static_cast<std::int64_t>(width), width);
        out.push_back(s.substr(0, s.find('\0')));
      }
    }
    return out;
  } catch (const H5::Exception& e) {
    fail<FormatError>("'{}': cannot read strings '{}': {}", path_, name, e.getDetailMsg());
  }
}

std::vector<std::string> H5Reader::axes(const std::string& dataset) const {
  const auto rank = shape(dataset).size();
  std::vector<std::string> out;
  try {
    H5::DataSet ds = impl_->file.openDataSet(dataset);
    if (!ds.attrExists("axes")) fail<FormatError>("'{}': dataset '{}' has no 'axes' attribute", path_, dataset);
    H5::Attribute attr = ds.openAttribute("axes");
    const auto n = attr.getSpace().getSimpleExtentNpoints();
    if (attr.getTypeClass() != H5T_STRING || !attr.getStrType().isVariableStr() || static_cast<std::size_t>(n) != rank)
      fail<FormatError>("'{}': 'axes' of '{}' is not {} variable-length strings", path_, dataset, rank);
    std::vector<char*> pointers(static_cast<std::size_t>(n), nullptr);
    attr.read(attr.getStrType(), pointers.data());
    for (auto* p : pointers) out.emplace_back(p ? p : "");
    H5::DataSet::vlenReclaim(pointers.data(), attr.getStrType(), attr.getSpace());
  } catch (const H5::Exception& e) {
    fail<FormatError>("'{}': cannot read the axes of '{}': {}", path_, dataset, e.getDetailMsg());
  }
  return out;
}

std::optional<double> H5Reader::numeric_attribute(const std::string& key, const std::string& object) const {
  try {
    auto read = [&](const H5::H5Object& target) -> std::optional<double> {
      if (!target.attrExists(key)) return std::nullopt;
      H5::Attribute attr = target.openAttribute(key);
      const auto cls = attr.getTypeClass();
      if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || attr.getSpace().getSimpleExtentNpoints() != 1)
        fail<FormatError>("'{}': attribute '{}' of '{}' is not a number", path_, key, object);
      double value = 0;
      attr.read(H5::PredType::NATIVE_DOUBLE, &value);
      return value;
    };
    if (object == "/" || impl_->file.childObjType(object) == H5O_TYPE_GROUP) return read(impl_->file.openGroup(object));
    return read(impl_->file.openDataSet(object));
  } catch (const H5::Exception& e) {
    fail<FormatError>("'{}': cannot read attribute '{}' of '{}': {}", path_, key, object, e.getDetailMsg());
  }
}

std::optional<std::string> H5Reader::attribute(const std::string& key, const std::string& object) const {
  try {
    auto read = [&](const H5::H5Object& target) -> std::optional<std::string> {
      if (!target.attrExists(key)) return std::nullopt;
      H5::Attribute attr = target.openAttribute(key);
      if (attr.getTypeClass() != H5T_STRING)
        fail<FormatError>("'{}': attribute '{}' of '{}' is not a string", path_, key, object);
      std::string value;
      attr.read(attr.getStrType(), value);
      return value;
    };
    if (object == "/" || impl_->file.childObjType(object) == H5O_TYPE_GROUP) return read(impl_->file.openGroup(object));
    return read(impl_->file.openDataSet(object));
  } catch (const H5::Exception& e) {
    fail<FormatError>("'{}': cannot read attribute '{}' of '{}': {}", path_, key, object, e.getDetailMsg());
  }
}

}  // namespace patchbay

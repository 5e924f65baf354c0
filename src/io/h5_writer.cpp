#include "patchbay/io/h5_writer.hpp"

#include "h5_impl.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <filesystem>

#include <H5Cpp.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/temp_files.hpp"
#include "patchbay/io/output_path.hpp"

namespace patchbay {
namespace fs = std::filesystem;

namespace {
// HDF5 prints its own error stack on failure; errors are reported through exceptions instead.
void silence_hdf5() {
  static const bool once = [] {
    H5::Exception::dontPrint();
    return true;
  }();
  (void)once;
}

}  // namespace

H5::Group ensure_parent_groups(H5::H5File& file, const std::string& name) {
  H5::Group group = file.openGroup("/");
  std::size_t start = 0;
  for (std::size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', start)) {
    std::string part = name.substr(start, slash - start);
    start = slash + 1;
    if (part.empty()) continue;
    group = group.nameExists(part) ? group.openGroup(part) : group.createGroup(part);
  }
  return group;
}

H5::StrType utf8_string_type() {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  return type;
}

namespace {
std::atomic<bool> failed_close{false};
}
void note_failed_hdf5_close() { failed_close = true; }
bool hdf5_close_failed() { return failed_close; }

std::string h5_failure(const H5::Exception& e) {
  const int err = errno;
  return err == 0 ? e.getDetailMsg() : fmt::format("{} ({})", e.getDetailMsg(), std::strerror(err));
}

std::string companion_path(const std::string& result_path, const std::string& suffix) {
  fs::path p(result_path);
  return (p.parent_path() / (p.stem().string() + suffix)).string();
}

H5Writer::H5Writer(std::string path, bool overwrite) : path_(std::move(path)), overwrite_(overwrite) {
  silence_hdf5();
  fs::path final_path(path_);
  fs::path dir = final_path.parent_path().empty() ? fs::path(".") : final_path.parent_path();
  check_output_path(path_, overwrite_);
  temp_path_ = (dir / fmt::format(".{}.tmp-{}", final_path.filename().string(), ::getpid())).string();
  temp_slot_ = register_temp_file(temp_path_);
  errno = 0;
  try {
    impl_ = std::make_unique<Impl>(Impl{H5::H5File(temp_path_, H5F_ACC_TRUNC)});
  } catch (const H5::Exception& e) {
    const auto reason = h5_failure(e);
    std::remove(temp_path_.c_str());  // H5Fcreate may have made it before failing (a full disk)
    unregister_temp_file(temp_slot_);
    fail<Error>("cannot create '{}': {}", temp_path_, reason);
  }
}

void H5Writer::start_write() const {
  if (!impl_) fail<Error>("H5Writer for '{}' is already committed", path_);
  errno = 0;
}

H5Writer::~H5Writer() {
  if (impl_) {
    CloseOnce(impl_->file).close();
    impl_.reset();
    std::remove(temp_path_.c_str());
  }
  unregister_temp_file(temp_slot_);
}

namespace {
template <typename T>
void write_column(H5::H5File& file, const std::string& path, const std::string& name, const std::vector<T>& values,
                  const H5::PredType& type) {
  try {
    hsize_t n = values.size();
    H5::DataSpace space(1, &n);
    H5::DataSet ds = ensure_parent_groups(file, name).createDataSet(leaf_name(name), type, space);
    CloseOnce closes(ds);
    if (n > 0) ds.write(values.data(), type);
  } catch (const H5::Exception& e) {
    fail<Error>("writing dataset '{}' to '{}' failed: {}", name, path, h5_failure(e));
  }
}
}  // namespace

void H5Writer::write_int64s(const std::string& name, const std::vector<std::int64_t>& values, const DatasetDoc& doc) {
  start_write();
  write_column(impl_->file, path_, name, values, H5::PredType::NATIVE_INT64);
  describe(name, 1, doc);
}

void H5Writer::write_doubles(const std::string& name, const std::vector<double>& values, const DatasetDoc& doc) {
  start_write();
  write_column(impl_->file, path_, name, values, H5::PredType::NATIVE_DOUBLE);
  describe(name, 1, doc);
}

void H5Writer::write_strings(const std::string& name, const std::vector<std::string>& values, const DatasetDoc& doc) {
  start_write();
  try {
    std::vector<const char*> pointers;
    for (const auto& v : values) pointers.push_back(v.c_str());
    hsize_t n = values.size();
    H5::DataSpace space(1, &n);
    H5::StrType type = utf8_string_type();
    H5::Group parent = ensure_parent_groups(impl_->file, name);
    auto leaf = name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
    H5::DataSet ds = parent.createDataSet(leaf, type, space);
    CloseOnce closes(ds);
    if (n > 0) ds.write(pointers.data(), type);
  } catch (const H5::Exception& e) {
    fail<Error>("writing strings '{}' to '{}' failed: {}", name, path_, h5_failure(e));
  }
  describe(name, 1, doc);
}

namespace {

// Runs write(target) on the group or dataset `object` of `file`.
template <typename F>
void on_object(H5::H5File& file, const std::string& object, const F& write) {
  if (object == "/" || file.childObjType(object) == H5O_TYPE_GROUP) {
    H5::Group group = file.openGroup(object);
    write(group);
  } else {
    H5::DataSet dataset = file.openDataSet(object);
    write(dataset);
  }
}

template <typename T>
void write_scalar_attribute(H5::H5File& file, const std::string& path, const std::string& key, const T& value,
                            const H5::DataType& type, const std::string& object) {
  try {
    H5::DataSpace scalar(H5S_SCALAR);
    on_object(file, object, [&](H5::H5Object& target) {
      if (target.attrExists(key)) target.removeAttr(key);
      target.createAttribute(key, type, scalar).write(type, &value);
    });
  } catch (const H5::Exception& e) {
    fail<Error>("writing attribute '{}' on '{}' in '{}' failed: {}", key, object, path, h5_failure(e));
  }
}

}  // namespace

void H5Writer::write_attribute(const std::string& key, double value, const std::string& object) {
  start_write();
  write_scalar_attribute(impl_->file, path_, key, value, H5::PredType::NATIVE_DOUBLE, object);
}

void H5Writer::write_attribute(const std::string& key, std::int64_t value, const std::string& object) {
  start_write();
  write_scalar_attribute(impl_->file, path_, key, value, H5::PredType::NATIVE_INT64, object);
}

void H5Writer::describe(const std::string& name, std::size_t rank, const DatasetDoc& doc) {
  if (doc.axes.size() != rank)
    fail<Error>("dataset '{}' has {} dimensions but {} axis names", name, rank, doc.axes.size());
  if (doc.description.empty()) fail<Error>("dataset '{}' has no description", name);
  try {
    H5::DataSet ds = impl_->file.openDataSet(name);
    CloseOnce closes(ds);
    if (rank > 0) {
      std::vector<const char*> pointers;
      for (const auto& a : doc.axes) pointers.push_back(a.c_str());
      hsize_t n = rank;
      H5::StrType type = utf8_string_type();
      ds.createAttribute("axes", type, H5::DataSpace(1, &n)).write(type, pointers.data());
    }
  } catch (const H5::Exception& e) {
    fail<Error>("describing dataset '{}' in '{}' failed: {}", name, path_, h5_failure(e));
  }
  write_attribute("description", doc.description, name);
  if (!doc.units.empty()) write_attribute("units", doc.units, name);
  if (doc.padding) write_attribute("padding", *doc.padding, name);
}

void H5Writer::write_attribute(const std::string& key, const std::string& value, const std::string& object) {
  start_write();
  try {
    H5::StrType type = utf8_string_type();
    H5::DataSpace scalar(H5S_SCALAR);
    on_object(impl_->file, object, [&](H5::H5Object& target) {
      if (target.attrExists(key)) target.removeAttr(key);
      target.createAttribute(key, type, scalar).write(type, value);
    });
  } catch (const H5::Exception& e) {
    fail<Error>("writing attribute '{}' on '{}' in '{}' failed: {}", key, object, path_, h5_failure(e));
  }
}

void H5Writer::commit() {
  write_attribute("format_version", kResultFormatVersion);
  start_write();
  try {
    impl_->file.flush(H5F_SCOPE_GLOBAL);
  } catch (const H5::Exception& e) {
    fail<Error>("writing '{}' failed: {}", path_, h5_failure(e));  // the destructor removes the temporary file
  }
  if (!CloseOnce(impl_->file).close())
    fail<Error>("writing '{}' failed: closing it failed ({})", path_, std::strerror(errno != 0 ? errno : EIO));
  impl_.reset();
  std::error_code ec;
  if (!overwrite_ && fs::exists(path_))
    fail<ExistsError>("'{}' appeared while writing", path_);
  fs::rename(temp_path_, path_, ec);
  unregister_temp_file(temp_slot_);
  temp_slot_ = -1;
  if (ec) {
    std::remove(temp_path_.c_str());
    fail<Error>("renaming '{}' to '{}' failed: {}", temp_path_, path_, ec.message());
  }
}

}  // namespace patchbay

#pragma once
// Access to the open HDF5 file behind H5Reader / H5Writer, for their split implementation files.
#include <string>

#include <H5Cpp.h>

#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {
struct H5Reader::Impl {
  H5::H5File file;
};
struct H5Writer::Impl {
  H5::H5File file;
};
void note_failed_hdf5_close();  // see hdf5_close_failed()

// Closes an HDF5 object exactly once, and silently, when the scope ends (by an exception too).
// The C++ wrappers' destructors retry a close that failed (a full disk fails the flush at close),
// printing "DataSet::~DataSet - H5Dclose failed" and, for a file, crashing HDF5 1.10 in
// H5F__close. Here the wrapper's own close only drops an extra reference taken first, and the
// one real close is made through the C API, whose failure is returned, not printed or retried.
template <typename Object>
class CloseOnce {
 public:
  explicit CloseOnce(Object& object) : object_(object) {}
  ~CloseOnce() { (void)close(); }
  CloseOnce(const CloseOnce&) = delete;
  CloseOnce& operator=(const CloseOnce&) = delete;
  // True when the object was closed cleanly (or was not open).
  bool close() noexcept {
    const hid_t id = object_.getId();
    if (H5Iis_valid(id) <= 0) return true;
    H5Iinc_ref(id);
    try {
      object_.close();
    } catch (...) {
    }
    if (H5Idec_ref(id) >= 0) return true;
    note_failed_hdf5_close();
    return false;
  }

 private:
  Object& object_;
};

// The text of an HDF5 failure, with the operating system's reason when there is one (HDF5's
// own message says only which call failed). Writers clear errno before each operation.
std::string h5_failure(const H5::Exception& e);

inline const H5::H5File& h5_file(const H5Reader& r) { return r.impl_->file; }
inline H5::H5File& h5_file(H5Writer& w) { return w.impl_->file; }
// Variable-length UTF-8 strings: the type of every string patchbay writes.
H5::StrType utf8_string_type();
// Creates the groups along `name`'s path and returns the innermost one.
H5::Group ensure_parent_groups(H5::H5File& file, const std::string& name);
inline std::string leaf_name(const std::string& name) {
  return name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
}
}  // namespace patchbay

#pragma once
// Access to the open HDF5 file behind H5Reader / H5Writer, for their split implementation files.
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

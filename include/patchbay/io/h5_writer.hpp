#pragma once
// Writes an HDF5 result file atomically: everything goes to a temporary file in the same
// directory, renamed onto the final name only by commit(). A writer destroyed without
// commit() (an exception, an early return) deletes its temporary file, so a final name never
// holds a half-written result. This is the only code that writes through the HDF5 API.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace H5 {
class H5File;
}

namespace patchbay {

// A file written beside a result: "dir/run.h5" + "_key_plot.svg" -> "dir/run_key_plot.svg".
std::string companion_path(const std::string& result_path, const std::string& suffix);

class H5Writer {
 public:
  // Throws InputError when `path` exists and `overwrite` is false, or its directory is missing.
  H5Writer(std::string path, bool overwrite);
  ~H5Writer();
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  // Writes a float32 (or int64) tensor as a dataset; `name` may contain '/' to make groups.
  // A 0-dim tensor becomes a scalar dataset.
  void write_tensor(const std::string& name, const at::Tensor& tensor);
  // Appends rows (along the first axis) to a chunked, extendible float32 dataset, creating it
  // on the first call; later calls must match the other dimensions. Memory stays bounded by
  // one call's rows, whatever the dataset grows to.
  void append_rows(const std::string& name, const at::Tensor& rows);
  // 1-D numeric datasets from plain vectors (int64, float64).
  void write_int64s(const std::string& name, const std::vector<std::int64_t>& values);
  void write_doubles(const std::string& name, const std::vector<double>& values);
  // A 1-D dataset of variable-length strings.
  void write_strings(const std::string& name, const std::vector<std::string>& values);
  // String attribute on the root group (or on an existing object named by `object`).
  void write_attribute(const std::string& key, const std::string& value, const std::string& object = "/");

  // Closes the file and renames it onto the final path.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  bool is_open() const { return impl_ != nullptr; }

 private:
  struct Impl;
  friend H5::H5File& h5_file(H5Writer& w);
  std::string path_;
  std::string temp_path_;
  bool overwrite_;
  int temp_slot_ = -1;  // registration for deletion on SIGINT/SIGTERM
  std::unique_ptr<Impl> impl_;
};

}  // namespace patchbay

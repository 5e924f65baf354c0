#pragma once
// Writes an HDF5 result file atomically: everything goes to a temporary file in the same
// directory, renamed onto the final name only by commit(). A writer destroyed without
// commit() (an exception, an early return) deletes its temporary file, so a final name never
// holds a half-written result. This is the only code that writes through the HDF5 API.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace H5 {
class H5File;
}

namespace patchbay {

// The version of the result-file layout documented in docs/FORMAT.md; every file's root
// carries it as the integer attribute `format_version`.
inline constexpr std::int64_t kResultFormatVersion = 2;

// What a dataset holds, written beside it as attributes so any HDF5 reader can tell:
// `axes` (one name per dimension, the names docs/FORMAT.md and the report use),
// `description`, and when set `units` and `padding` (the value that fills unused cells).
struct DatasetDoc {
  std::vector<std::string> axes;  // empty for a scalar
  std::string description;
  std::string units = {};
  std::optional<double> padding = {};
};

// A file written beside a result: "dir/run.h5" + "_key_plot.svg" -> "dir/run_key_plot.svg".
std::string companion_path(const std::string& result_path, const std::string& suffix);

// True once an HDF5 object could not be closed (a full disk fails the flush at close). The
// writer reports that as an error and removes its temporary file, but HDF5 1.10 keeps the
// half-closed objects and crashes on them in its exit-time cleanup (H5close), so a program that
// saw this should leave with std::_Exit after reporting, as the command line does.
bool hdf5_close_failed();

class H5Writer {
 public:
  // Refuses `path` as check_output_path does (an existing file unless `overwrite`, a special
  // file, a missing or read-only directory) before anything is created.
  H5Writer(std::string path, bool overwrite);
  ~H5Writer();
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  // Every dataset is written with its DatasetDoc; throws Error when the axis names do not
  // match the data's rank or the description is empty, so no file holds an unexplained dataset.

  // Writes a float32 (or int64) tensor as a dataset; `name` may contain '/' to make groups.
  // A 0-dim tensor becomes a scalar dataset.
  void write_tensor(const std::string& name, const at::Tensor& tensor, const DatasetDoc& doc);
  // Appends rows (along the first axis) to a chunked, extendible float32 dataset, creating it
  // on the first call; later calls must match the other dimensions. Memory stays bounded by
  // one call's rows, whatever the dataset grows to.
  void append_rows(const std::string& name, const at::Tensor& rows, const DatasetDoc& doc);
  // 1-D numeric datasets from plain vectors (int64, float64).
  void write_int64s(const std::string& name, const std::vector<std::int64_t>& values, const DatasetDoc& doc);
  void write_doubles(const std::string& name, const std::vector<double>& values, const DatasetDoc& doc);
  // A 1-D dataset of variable-length UTF-8 strings.
  void write_strings(const std::string& name, const std::vector<std::string>& values, const DatasetDoc& doc);
  // Attributes on the root group (or on an existing object named by `object`): UTF-8 text,
  // or numbers at full precision (int64, float64; a bool as int64 0/1).
  void write_attribute(const std::string& key, const std::string& value, const std::string& object = "/");
  void write_attribute(const std::string& key, const char* value, const std::string& object = "/") {
    write_attribute(key, std::string(value), object);
  }
  void write_attribute(const std::string& key, double value, const std::string& object = "/");
  void write_attribute(const std::string& key, std::int64_t value, const std::string& object = "/");
  void write_attribute(const std::string& key, int value, const std::string& object = "/") {
    write_attribute(key, static_cast<std::int64_t>(value), object);
  }
  void write_attribute(const std::string& key, std::uint64_t value, const std::string& object = "/") {
    write_attribute(key, static_cast<std::int64_t>(value), object);
  }
  void write_attribute(const std::string& key, bool value, const std::string& object = "/") {
    write_attribute(key, static_cast<std::int64_t>(value), object);
  }

  // Closes the file and renames it onto the final path (writing `format_version` first).
  void commit();

  const std::string& path() const { return path_; }
  bool is_open() const { return impl_ != nullptr; }

 private:
  struct Impl;
  friend H5::H5File& h5_file(H5Writer& w);
  // Writes doc's attributes on the dataset `name` after checking it against the data's rank.
  void describe(const std::string& name, std::size_t rank, const DatasetDoc& doc);
  // Throws unless the file is still open; clears errno so a failure can name its cause.
  void start_write() const;
  std::string path_;
  std::string temp_path_;
  bool overwrite_;
  int temp_slot_ = -1;  // registration for deletion on SIGINT/SIGTERM
  std::unique_ptr<Impl> impl_;
};

}  // namespace patchbay

#pragma once
// Read-only memory map of a whole file (RAII). Model weights are read through this so a
// 500 MB checkpoint is paged in on demand instead of copied into a buffer first.
#include <cstddef>
#include <cstdint>
#include <string>

namespace patchbay {

class MappedFile {
 public:
  // Throws FormatError naming the path when it cannot be opened or mapped.
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release() noexcept;
  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// Reads a whole (small) text file; throws FormatError naming the path on failure.
std::string read_text_file(const std::string& path);

// Hex SHA-256 of a file's bytes, recorded as provenance of every result.
std::string sha256_file(const std::string& path);

}  // namespace patchbay

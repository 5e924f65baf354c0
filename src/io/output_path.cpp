#include "patchbay/io/output_path.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "patchbay/core/error.hpp"

namespace patchbay {
namespace fs = std::filesystem;
namespace {

const char* kind_of(fs::file_type type) {
  switch (type) {
    case fs::file_type::directory: return "a directory";
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::character: return "a character device";
    case fs::file_type::block: return "a block device";
    case fs::file_type::socket: return "a socket";
    case fs::file_type::not_found: return "nothing (a dangling link)";
    default: return "something other than a file";
  }
}

void check_directory(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  const auto dir = parent.empty() ? std::string(".") : parent.string();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail<InputError>("cannot write '{}': directory '{}' does not exist", path, dir);
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    fail<InputError>("cannot write '{}': directory '{}' is not writable ({})", path, dir, std::strerror(errno));
}

}  // namespace

void check_output_path(const std::string& path, bool overwrite, std::span<const std::string> inputs) {
  if (path.empty()) fail<InputError>("the output path is empty: expected a file name");
  check_directory(path);
  std::error_code ec;
  const auto link = fs::symlink_status(path, ec);
  if (link.type() == fs::file_type::not_found) return;
  const auto target = fs::status(path, ec);
  if (target.type() != fs::file_type::regular)
    fail<InputError>("cannot write '{}': it is {}{}, not a regular file; choose another path", path,
                     link.type() == fs::file_type::symlink ? "a symlink to " : "", kind_of(target.type()));
  for (const auto& input : inputs)
    if (!input.empty() && fs::equivalent(path, input, ec))
      fail<InputError>("cannot write '{}': it is also an input of this run ('{}'); choose another output", path, input);
  if (!overwrite) fail<ExistsError>("'{}' already exists", path);
}

}  // namespace patchbay

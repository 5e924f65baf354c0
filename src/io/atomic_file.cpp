#include "patchbay/io/atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/temp_files.hpp"

namespace patchbay {

void write_file_atomic(const std::string& path, const std::string& content) {
  namespace fs = std::filesystem;
  fs::path final_path(path);
  fs::path dir = final_path.parent_path().empty() ? fs::path(".") : final_path.parent_path();
  const auto temp = (dir / fmt::format(".{}.tmp-{}", final_path.filename().string(), ::getpid())).string();
  const int slot = register_temp_file(temp);
  struct Unregister {
    int slot;
    ~Unregister() { unregister_temp_file(slot); }
  } unregister{slot};
  {
    errno = 0;
    std::ofstream out(temp, std::ios::binary);
    if (!out) fail<Error>("cannot write '{}': {}", path, std::strerror(errno != 0 ? errno : EIO));
    out << content;
    out.close();  // a full disk may show only here
    if (!out) {
      const int err = errno != 0 ? errno : EIO;
      std::remove(temp.c_str());
      fail<Error>("writing '{}' failed: {}", path, std::strerror(err));
    }
  }
  std::error_code ec;
  fs::rename(temp, final_path, ec);
  if (ec) {
    std::remove(temp.c_str());
    fail<Error>("renaming '{}' to '{}' failed: {}", temp, path, ec.message());
  }
}

}  // namespace patchbay

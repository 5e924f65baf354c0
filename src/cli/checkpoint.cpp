#include "checkpoint.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "patchbay/core/error.hpp"

namespace patchbay::cli {
namespace {

// The pid written in a held lock file ("?" when it cannot be read).
std::string holder_of(int fd) {
  char buffer[32] = {};
  const auto n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "?";
}

}  // namespace

Checkpoint::Checkpoint(const std::string& result, bool resume) {
  namespace fs = std::filesystem;
  const fs::path path(result);
  dir_ = (path.parent_path() / ("." + path.filename().string() + ".checkpoint")).string();
  const auto lock = dir_ + "/lock";
  created_here_ = !fs::exists(dir_);
  fs::create_directories(dir_);
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) fail<InputError>("cannot lock the checkpoint '{}': {}", lock, std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const auto holder = holder_of(lock_fd_);
    ::close(lock_fd_);
    lock_fd_ = -1;
    fail<InputError>("another run (pid {}) is writing '{}' and holds its checkpoint '{}'; wait for it, or choose another --out",
                     holder, result, dir_);
  }
  if (!created_here_ && !resume) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    fail<InputError>("an interrupted run left a checkpoint at '{}'; pass --resume to continue it, or delete it", dir_);
  }
  const auto pid = std::to_string(::getpid());
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    const int err = errno;
    ::close(lock_fd_);  // the destructor does not run for a constructor that throws
    lock_fd_ = -1;
    fail<InputError>("cannot write the checkpoint lock '{}': {}", lock, std::strerror(err));
  }
}

Checkpoint::~Checkpoint() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void Checkpoint::remove() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
}

}  // namespace patchbay::cli

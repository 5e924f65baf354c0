#pragma once
// The checkpoint directory beside a result (".NAME.checkpoint"), held by one run at a time.
#include <filesystem>
#include <string>

namespace patchbay::cli {

class Checkpoint {
 public:
  // Refuses a checkpoint another live run holds (naming its pid), and one an interrupted run
  // left unless `resume`; then creates the directory and locks it (flock on DIR/lock, which
  // holds the pid) for this process's lifetime. The lock dies with the process, SIGKILL too,
  // so a killed run's checkpoint is never mistaken for a live one.
  Checkpoint(const std::string& result, bool resume);
  ~Checkpoint();
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  const std::string& dir() const { return dir_; }

  // compute() with the directory removed once it returns. A failure (an exception: bad input
  // found late, a full disk) removes it too when this run created it, so the next run is not
  // told to --resume something that never ran; one an earlier run left is kept for --resume.
  // (An interruption by a signal never reaches here: its checkpoint stays.)
  template <typename Compute>
  auto run(Compute&& compute) {
    try {
      auto result = compute();
      remove();
      return result;
    } catch (...) {
      if (created_here_) remove();
      throw;
    }
  }

 private:
  void remove();
  std::string dir_;
  bool created_here_ = false;
  int lock_fd_ = -1;
};

}  // namespace patchbay::cli

#pragma once
// Progress of a long step on stderr, redrawn in place at most 5 times a second. Silent when
// stderr is not a terminal (logs and CI stay clean) or when disabled.
#include <chrono>
#include <cstdint>
#include <string>

namespace patchbay {

class Progress {
 public:
  // enabled: nullopt means "when stderr is a terminal".
  Progress(std::string label, std::int64_t total, int enabled = -1);
  ~Progress();
  void advance(std::int64_t n = 1);
  void finish();
  static bool stderr_is_terminal();

 private:
  void draw(bool final);
  std::string label_;
  std::int64_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace patchbay

#include "patchbay/core/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace patchbay {

bool Progress::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, std::int64_t total, int enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled < 0 ? stderr_is_terminal() : enabled != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::advance(std::int64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ > std::chrono::milliseconds(200)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double fraction = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
  std::fprintf(stderr, "\r%-28s %5.1f%% (%lld/%lld) %6.1fs%s", label_.c_str(), 100 * fraction,
               static_cast<long long>(done_), static_cast<long long>(total_), final ? elapsed : eta,
               final ? "      \n" : " left");
  std::fflush(stderr);
}

}  // namespace patchbay

#include "patchbay/core/warnings.hpp"

#include <cstdio>
#include <mutex>

namespace patchbay {
namespace {
std::mutex mutex;
WarningHandler handler;
}  // namespace

void warn(const std::string& message) {
  std::lock_guard lock(mutex);
  if (handler) handler(message);
  else std::fprintf(stderr, "warning: %s\n", message.c_str());
}

WarningHandler set_warning_handler(WarningHandler h) {
  std::lock_guard lock(mutex);
  std::swap(handler, h);
  return h;
}

}  // namespace patchbay

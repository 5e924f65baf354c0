#include "patchbay/core/temp_files.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>

namespace patchbay {
namespace {

// Fixed storage, so the signal handler touches no allocator: only unlink and flags.
constexpr int kSlots = 64;
constexpr std::size_t kPathMax = 4096;
struct Slot {
  std::atomic<bool> used{false};
  char path[kPathMax] = {};
};
std::array<Slot, kSlots> slots;
std::mutex registry_mutex;
std::atomic<int> running_child{0};

extern "C" void cleanup_and_reraise(int signal) {
  if (const int child = running_child.load(); child > 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
  }
  for (auto& s : slots)
    if (s.used.load()) ::unlink(s.path);
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

}  // namespace

void install_interrupt_cleanup() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_handler = cleanup_and_reraise;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
  });
}

int register_temp_file(const std::string& path) {
  if (path.size() >= kPathMax) return -1;
  std::lock_guard lock(registry_mutex);
  for (int i = 0; i < kSlots; ++i) {
    if (slots[static_cast<std::size_t>(i)].used.load()) continue;
    std::memcpy(slots[static_cast<std::size_t>(i)].path, path.c_str(), path.size() + 1);
    slots[static_cast<std::size_t>(i)].used.store(true);
    return i;
  }
  return -1;  // full: the file still gets its temporary name, just not signal cleanup
}

void register_child(int pid) { running_child.store(pid); }
void unregister_child(int pid) {
  int expected = pid;
  running_child.compare_exchange_strong(expected, 0);
}

void unregister_temp_file(int slot) {
  if (slot < 0 || slot >= kSlots) return;
  slots[static_cast<std::size_t>(slot)].used.store(false);
}

}  // namespace patchbay

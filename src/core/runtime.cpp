#include "patchbay/core/runtime.hpp"

#include <malloc.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/warnings.hpp"

namespace patchbay {

int configure_threads(int requested) {
  if (requested < 0) fail<InputError>("--threads must be >= 0 (0 = one per core), got {}", requested);
  // Activations are large and short-lived: by default glibc maps and unmaps each one, and the
  // page faults cost several percent of a patching sweep. Keep freed blocks in the heap instead.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  const int hardware = static_cast<int>(std::thread::hardware_concurrency());
  int n = requested;
  if (n == 0) n = hardware;
  if (hardware > 0 && n > hardware) {  // more threads than cores only adds contention (1000: 50x slower)
    warn(fmt::format("{} compute threads asked for, more than this machine's {} hardware threads; using {}", requested, hardware, hardware));
    n = hardware;
  }
  if (n <= 0) n = 1;
  at::set_num_threads(n);
  return at::get_num_threads();
}

std::optional<std::int64_t> available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::int64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return std::nullopt;
}

void require_available_memory(double bytes, const std::string& what, const std::string& advice) {
  const auto available = available_memory_bytes();
  if (!available || bytes <= static_cast<double>(*available)) return;
  fail<InputError>("{} need at least {:.1f} GiB, more than the {:.1f} GiB available; {}", what, bytes / (1 << 30),
                   static_cast<double>(*available) / (1 << 30), advice);
}

namespace {
std::atomic<std::int64_t> pass_budget{std::int64_t(64) << 20};  // fastest and flat on stories260K (README, "Memory")
}  // namespace

std::int64_t pass_memory_budget_bytes() { return pass_budget.load(); }

void set_pass_memory_budget_bytes(std::int64_t bytes) {
  if (bytes < 1) fail<InputError>("the memory budget of one pass must be positive, got {} bytes", bytes);
  pass_budget.store(bytes);
}

c10::Device parse_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!at::hasCUDA())
      fail<InputError>("device '{}' requested but this libtorch build has no CUDA support or no GPU is visible; use --device cpu", name);
    try {
      return c10::Device(name);
    } catch (const c10::Error&) {
      fail<InputError>("invalid device '{}': expected cpu, cuda or cuda:N", name);
    }
  }
  fail<InputError>("invalid device '{}': expected cpu, cuda or cuda:N", name);
}

}  // namespace patchbay

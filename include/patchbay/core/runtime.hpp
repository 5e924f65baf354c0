#pragma once
// Process-wide compute settings that libtorch keeps globally: thread count and device choice.
#include <cstdint>
#include <optional>
#include <string>

#include <c10/core/Device.h>

namespace patchbay {

// Sets libtorch's intra-op thread count. 0 means one thread per hardware core
// (libtorch itself defaults to 1 on these machines). Returns the count in effect. Also tunes
// the allocator for large short-lived tensors.
int configure_threads(int requested = 0);

// The memory the kernel says a new allocation can get without swapping (MemAvailable in
// /proc/meminfo), in bytes; nullopt where it cannot be read.
std::optional<std::int64_t> available_memory_bytes();

// Throws InputError "{what} need at least X GiB, more than the Y GiB available; {advice}" when
// `bytes` exceed available_memory_bytes() (nothing where that cannot be read): runs whose
// memory grows with their inputs check this before the work, not after minutes of growth.
void require_available_memory(double bytes, const std::string& what, const std::string& advice);

// The memory one batched pass of patching, attribution, ablation or direct attribution may
// hold for its chunk of pairs (default 64 MiB): those stages take pairs a chunk at a time, so
// what they hold beyond their per-pair results does not grow with the number of pairs. Set
// lower to fit a small machine, higher for larger batches (positive; tests set a few bytes:
// one pair a chunk).
std::int64_t pass_memory_budget_bytes();
void set_pass_memory_budget_bytes(std::int64_t bytes);

// Parses "cpu", "cuda" or "cuda:N"; throws InputError for anything else or when CUDA
// was asked for but this libtorch build has no usable GPU.
c10::Device parse_device(const std::string& name);

}  // namespace patchbay

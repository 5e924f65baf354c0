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

// Parses "cpu", "cuda" or "cuda:N"; throws InputError for anything else or when CUDA
// was asked for but this libtorch build has no usable GPU.
c10::Device parse_device(const std::string& name);

}  // namespace patchbay

#pragma once
// Process-wide compute settings that libtorch keeps globally: thread count and device choice.
#include <string>

#include <c10/core/Device.h>

namespace patchbay {

// Sets libtorch's intra-op thread count. 0 means one thread per hardware core
// (libtorch itself defaults to 1 on these machines). Returns the count in effect. Also tunes
// the allocator for large short-lived tensors.
int configure_threads(int requested = 0);

// Parses "cpu", "cuda" or "cuda:N"; throws InputError for anything else or when CUDA
// was asked for but this libtorch build has no usable GPU.
c10::Device parse_device(const std::string& name);

}  // namespace patchbay

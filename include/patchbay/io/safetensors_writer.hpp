#pragma once
// Writes tensors in the safetensors format (F32, F16, BF16, I64), atomically. Used to export
// weights and activations for other tools, and by tests to craft checkpoints.
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace patchbay {

// Tensors are written in name order with contiguous, non-overlapping data offsets.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});


}  // namespace patchbay

#include "patchbay/model/activation_memory.hpp"

#include <algorithm>

#include "patchbay/core/runtime.hpp"

namespace patchbay {

std::int64_t forward_activation_bytes(const ModelConfig& c, std::int64_t positions, int layers) {
  // Per block and position: ~12 residual-width vectors (streams, norms, q/k/v, z, outputs),
  // each head's output before the sum (hook_result), 3 MLP-width ones (gate, up, post) and
  // each head's row of scores and pattern.
  const auto per_position = 12 * c.d_model + c.n_heads * c.d_model + 3 * c.d_mlp + 2 * c.n_heads * positions;
  return 4 * positions * std::max(layers, 1) * per_position;
}

std::int64_t rows_per_pass(std::int64_t bytes_per_row) {
  return std::max<std::int64_t>(1, pass_memory_budget_bytes() / std::max<std::int64_t>(1, bytes_per_row));
}

void for_each_row_chunk(std::int64_t rows, std::int64_t chunk, const std::function<void(std::int64_t first, std::int64_t count)>& fn) {
  for (std::int64_t first = 0; first < rows; first += chunk) fn(first, std::min(chunk, rows - first));
}

}  // namespace patchbay

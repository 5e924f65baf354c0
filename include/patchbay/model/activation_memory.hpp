#pragma once
// How much memory a forward pass's activations take, and so how many prompts one batched pass
// may take within the working-memory budget (core/runtime.hpp): what patching, attribution,
// ablation and direct attribution size their chunks of pairs by, so that their memory does
// not grow with the number of pairs.
#include <cstdint>
#include <functional>

#include "patchbay/model/config.hpp"

namespace patchbay {

// Bytes of float32 activations a forward pass over `layers` blocks holds per prompt of
// `positions` tokens: residual streams and norms, queries/keys/values, attention scores and
// patterns, per-head outputs, the MLP's hidden layers. Generous rather than tight; a pass with
// gradients holds about twice this.
std::int64_t forward_activation_bytes(const ModelConfig& config, std::int64_t positions, int layers);

// How many prompts (or pairs) a pass holding `bytes_per_row` for each takes within the
// budget: at least 1.
std::int64_t rows_per_pass(std::int64_t bytes_per_row);

// Calls fn(first, count) for consecutive chunks [first, first + count) of `rows` rows, each of
// at most `chunk` rows, in order.
void for_each_row_chunk(std::int64_t rows, std::int64_t chunk, const std::function<void(std::int64_t first, std::int64_t count)>& fn);

}  // namespace patchbay

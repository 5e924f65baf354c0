#pragma once
// Models with seeded random weights, for tests with planted mechanisms and for benchmarks that
// need GPT-2-Small-shaped compute without the weights.
#include <cstdint>

#include "patchbay/model/model.hpp"

namespace patchbay {

// Weights ~ N(0, 0.02) like GPT-2's initialisation (norm weights near 1), deterministic in `seed`.
// No tokenizer.
Model random_model(const ModelConfig& config, std::uint64_t seed);

// Config helpers: GPT-2-family (LayerNorm, learned positions, GELU) and Llama-family (RMSNorm,
// rotary, SwiGLU) shapes.
ModelConfig gpt2_like_config(std::int64_t n_layers, std::int64_t d_model, std::int64_t n_heads, std::int64_t d_vocab,
                             std::int64_t n_ctx);
ModelConfig llama_like_config(std::int64_t n_layers, std::int64_t d_model, std::int64_t n_heads,
                              std::int64_t n_kv_heads, std::int64_t d_mlp, std::int64_t d_vocab, std::int64_t n_ctx);

}  // namespace patchbay

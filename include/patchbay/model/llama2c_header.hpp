#pragma once
// The legacy llama2.c checkpoint header: 7 int32 fields. A negative vocab size means the
// classifier is stored separately (untied). Exposed for tests and fuzzing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "patchbay/model/config.hpp"

namespace patchbay {

struct Llama2cHeader {
  std::int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
  bool shared_classifier;
};

inline constexpr std::size_t kLlama2cHeaderBytes = 7 * 4;

// Validates the fields and that `file_size` matches exactly what they imply; throws
// FormatError naming `what` and the offending field.
Llama2cHeader parse_llama2c_header(const std::uint8_t* data, std::size_t file_size, const std::string& what);

// Number of float32 weights the header implies (including the legacy RoPE tables).
std::uint64_t llama2c_weight_count(const Llama2cHeader& h);

ModelConfig llama2c_config(const Llama2cHeader& h, const std::string& name);

}  // namespace patchbay

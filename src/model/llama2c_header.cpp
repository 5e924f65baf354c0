// The legacy llama2.c header: validated without a tensor library (also a fuzzing entry point).
#include <climits>
#include <cstring>

#include "patchbay/core/error.hpp"
#include "patchbay/model/llama2c_header.hpp"

namespace patchbay {

Llama2cHeader parse_llama2c_header(const std::uint8_t* data, std::size_t file_size, const std::string& what) {
  if (file_size < kLlama2cHeaderBytes)
    fail<FormatError>("{}: {} bytes, too short for the 28-byte llama2.c header", what, file_size);
  std::int32_t f[7];
  std::memcpy(f, data, sizeof f);
  // A negative vocab size means an untied classifier. Widen before negating: -INT32_MIN overflows.
  const std::int64_t vocab = f[5] < 0 ? -static_cast<std::int64_t>(f[5]) : f[5];
  if (vocab <= 0 || vocab > (1 << 24))
    fail<FormatError>("{}: header field vocab_size = {} is out of range (expected 1..{} or its negative)", what, f[5], 1 << 24);
  Llama2cHeader h{f[0], f[1], f[2], f[3], f[4], static_cast<std::int32_t>(vocab), f[6], f[5] > 0};
  auto check = [&](const char* field, std::int64_t v, std::int64_t limit) {
    if (v <= 0 || v > limit) fail<FormatError>("{}: header field {} = {} is out of range (expected 1..{})", what, field, v, limit);
  };
  check("dim", h.dim, 1 << 16);
  check("hidden_dim", h.hidden_dim, 1 << 20);
  check("n_layers", h.n_layers, 1024);
  check("n_heads", h.n_heads, 1024);
  check("n_kv_heads", h.n_kv_heads, 1024);
  check("seq_len", h.seq_len, 1 << 20);
  if (h.dim % h.n_heads != 0) fail<FormatError>("{}: n_heads = {} does not divide dim = {}", what, h.n_heads, h.dim);
  if (h.n_heads % h.n_kv_heads != 0)
    fail<FormatError>("{}: n_kv_heads = {} does not divide n_heads = {}", what, h.n_kv_heads, h.n_heads);
  if ((h.dim / h.n_heads) % 2 != 0)
    fail<FormatError>("{}: head size {} is odd; rotary embeddings need pairs", what, h.dim / h.n_heads);
  const std::uint64_t expected = kLlama2cHeaderBytes + 4 * llama2c_weight_count(h);
  if (file_size != expected)
    fail<FormatError>("{}: file is {} bytes but its header implies {} (dim {}, hidden {}, layers {}, heads {}/{}, vocab {}{}, seq_len {})",
                      what, file_size, expected, h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads,
                      h.vocab_size, h.shared_classifier ? "" : " untied", h.seq_len);
  return h;
}

std::uint64_t llama2c_weight_count(const Llama2cHeader& h) {
  const std::uint64_t dim = h.dim, hidden = h.hidden_dim, L = h.n_layers, vocab = h.vocab_size;
  const std::uint64_t head = dim / h.n_heads, kv_dim = head * h.n_kv_heads;
  std::uint64_t per_layer = dim /*rms_att*/ + dim * dim /*wq*/ + 2 * kv_dim * dim /*wk, wv*/ + dim * dim /*wo*/ +
                            dim /*rms_ffn*/ + 3 * hidden * dim /*w1, w2, w3*/;
  std::uint64_t n = vocab * dim + L * per_layer + dim /*rms_final*/ + h.seq_len * head /*freq_cis real + imag*/;
  if (!h.shared_classifier) n += vocab * dim;
  return n;
}

ModelConfig llama2c_config(const Llama2cHeader& h, const std::string& name) {
  ModelConfig c;
  c.arch = Architecture::Llama;
  c.name = name;
  c.n_layers = h.n_layers;
  c.d_model = h.dim;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.d_head = h.dim / h.n_heads;
  c.d_mlp = h.hidden_dim;
  c.d_vocab = h.vocab_size;
  c.n_ctx = h.seq_len;
  c.norm_eps = 1e-5;  // llama2.c's rmsnorm
  c.rope_theta = 10000.0;
  c.norm = NormKind::RMSNorm;
  c.positions = PositionKind::Rotary;
  c.mlp = MlpKind::SwiGLU;
  return c;
}

}  // namespace patchbay

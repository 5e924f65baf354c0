#include "patchbay/model/config.hpp"

#include "patchbay/core/error.hpp"

namespace patchbay {

const char* to_string(Architecture arch) { return arch == Architecture::GPT2 ? "gpt2" : "llama"; }

void ModelConfig::validate(const std::string& what) const {
  auto positive = [&](const char* field, std::int64_t v, std::int64_t limit) {
    if (v <= 0 || v > limit) fail<FormatError>("{}: {} = {} is out of range (expected 1..{})", what, field, v, limit);
  };
  positive("n_layers", n_layers, 1024);
  positive("d_model", d_model, 1 << 16);
  positive("n_heads", n_heads, 1024);
  positive("n_kv_heads", n_kv_heads, 1024);
  positive("d_mlp", d_mlp, 1 << 20);
  positive("vocab_size", d_vocab, 1 << 24);
  positive("n_ctx", n_ctx, 1 << 20);
  if (d_model % n_heads != 0)
    fail<FormatError>("{}: n_heads = {} does not divide d_model = {}", what, n_heads, d_model);
  if (n_heads % n_kv_heads != 0)
    fail<FormatError>("{}: n_kv_heads = {} does not divide n_heads = {}", what, n_kv_heads, n_heads);
  if (d_head != d_model / n_heads)
    fail<FormatError>("{}: d_head = {} but d_model / n_heads = {}", what, d_head, d_model / n_heads);
  if (positions == PositionKind::Rotary && d_head % 2 != 0)
    fail<FormatError>("{}: rotary embeddings need an even head size, got {}", what, d_head);
  if (!(norm_eps > 0 && norm_eps < 1)) fail<FormatError>("{}: norm epsilon {} is out of range (0, 1)", what, norm_eps);
}

}  // namespace patchbay

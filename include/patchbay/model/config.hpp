#pragma once
// Architecture-independent description of a decoder-only transformer. Each loader fills it
// from its own file format; the forward pass reads only this.
#include <cstdint>
#include <string>

namespace patchbay {

enum class Architecture { GPT2, Llama };
enum class NormKind { LayerNorm, RMSNorm };
enum class PositionKind { Learned, Rotary };
enum class MlpKind { GeluNew, SwiGLU };

struct ModelConfig {
  Architecture arch = Architecture::GPT2;
  std::string name;          // e.g. "gpt2", "stories260K"; from the directory name
  std::int64_t n_layers = 0;
  std::int64_t d_model = 0;
  std::int64_t n_heads = 0;
  std::int64_t n_kv_heads = 0;  // == n_heads unless grouped-query attention
  std::int64_t d_head = 0;
  std::int64_t d_mlp = 0;
  std::int64_t d_vocab = 0;
  std::int64_t n_ctx = 0;
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  NormKind norm = NormKind::LayerNorm;
  PositionKind positions = PositionKind::Learned;
  MlpKind mlp = MlpKind::GeluNew;

  // Throws FormatError (prefixed by `what`) when dimensions are inconsistent.
  void validate(const std::string& what) const;
};

const char* to_string(Architecture arch);

}  // namespace patchbay

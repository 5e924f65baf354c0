#include "patchbay/model/random_model.hpp"

#include <ATen/ATen.h>

namespace patchbay {

ModelConfig gpt2_like_config(std::int64_t n_layers, std::int64_t d_model, std::int64_t n_heads, std::int64_t d_vocab,
                             std::int64_t n_ctx) {
  ModelConfig c;
  c.arch = Architecture::GPT2;
  c.name = "random-gpt2";
  c.n_layers = n_layers;
  c.d_model = d_model;
  c.n_heads = n_heads;
  c.n_kv_heads = n_heads;
  c.d_head = d_model / n_heads;
  c.d_mlp = 4 * d_model;
  c.d_vocab = d_vocab;
  c.n_ctx = n_ctx;
  return c;
}

ModelConfig llama_like_config(std::int64_t n_layers, std::int64_t d_model, std::int64_t n_heads,
                              std::int64_t n_kv_heads, std::int64_t d_mlp, std::int64_t d_vocab, std::int64_t n_ctx) {
  ModelConfig c = gpt2_like_config(n_layers, d_model, n_heads, d_vocab, n_ctx);
  c.arch = Architecture::Llama;
  c.name = "random-llama";
  c.n_kv_heads = n_kv_heads;
  c.d_mlp = d_mlp;
  c.norm = NormKind::RMSNorm;
  c.positions = PositionKind::Rotary;
  c.mlp = MlpKind::SwiGLU;
  return c;
}

Model random_model(const ModelConfig& c, std::uint64_t seed) {
  c.validate("random_model");
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto normal = [&](std::vector<std::int64_t> shape, double std = 0.02) {
    return at::normal(0.0, std, shape, gen, at::TensorOptions().dtype(at::kFloat));
  };
  auto norm_weights = [&]() {
    NormWeights n{1.0 + normal({c.d_model}, 0.1), {}};
    if (c.norm == NormKind::LayerNorm) n.b = normal({c.d_model});
    return n;
  };
  const bool biases = c.arch == Architecture::GPT2;
  const auto qkv = (c.n_heads + 2 * c.n_kv_heads) * c.d_head;
  ModelWeights w;
  w.W_E = normal({c.d_vocab, c.d_model});
  if (c.positions == PositionKind::Learned) w.W_pos = normal({c.n_ctx, c.d_model}, 0.01);
  for (std::int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.ln1 = norm_weights();
    lw.ln2 = norm_weights();
    lw.W_qkv = normal({c.d_model, qkv});
    lw.W_O = normal({c.n_heads * c.d_head, c.d_model});
    lw.W_in = normal({c.d_model, c.d_mlp});
    lw.W_out = normal({c.d_mlp, c.d_model});
    if (c.mlp == MlpKind::SwiGLU) lw.W_gate = normal({c.d_model, c.d_mlp});
    if (biases) {
      lw.b_qkv = normal({qkv});
      lw.b_O = normal({c.d_model});
      lw.b_in = normal({c.d_mlp});
      lw.b_out = normal({c.d_model});
    }
    w.layers.push_back(std::move(lw));
  }
  w.ln_final = norm_weights();
  w.W_U = w.W_E.t();
  return Model(c, std::move(w), nullptr, ModelSource{"<random>", fmt::format("<random seed {}>", seed)});
}

}  // namespace patchbay

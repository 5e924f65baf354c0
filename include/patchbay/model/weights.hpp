#pragma once
// Weights in one architecture-independent layout, all stored for `x @ W` ([in, out]), float32.
// Loaders convert their file layouts into this; the forward pass reads only this.
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace patchbay {

struct NormWeights {
  at::Tensor w;  // [d_model]
  at::Tensor b;  // [d_model]; undefined for RMSNorm
};

struct LayerWeights {
  NormWeights ln1;
  NormWeights ln2;
  at::Tensor W_qkv;   // [d_model, (n_heads + 2 * n_kv_heads) * d_head]: q | k | v columns, head-major
  at::Tensor b_qkv;   // [(n_heads + 2 * n_kv_heads) * d_head]; undefined when the model has no biases
  at::Tensor W_O;     // [n_heads * d_head, d_model]
  at::Tensor b_O;     // [d_model] or undefined
  at::Tensor W_in;    // [d_model, d_mlp]: MLP input (the "up"/linear branch for SwiGLU)
  at::Tensor b_in;    // [d_mlp] or undefined
  at::Tensor W_gate;  // [d_model, d_mlp]: SwiGLU gate; undefined for GELU MLPs
  at::Tensor W_out;   // [d_mlp, d_model]
  at::Tensor b_out;   // [d_model] or undefined
};

struct ModelWeights {
  at::Tensor W_E;    // [d_vocab, d_model]
  at::Tensor W_pos;  // [n_ctx, d_model]; undefined for rotary models
  std::vector<LayerWeights> layers;
  NormWeights ln_final;
  at::Tensor W_U;    // [d_model, d_vocab] (a transposed view of W_E when tied)
  at::Tensor b_U;    // [d_vocab] or undefined

  // Moves every tensor to `device`.
  void to(const at::Device& device);

  // Every defined tensor with a descriptive name ("blocks.0.W_qkv"), for checks and messages.
  std::vector<std::pair<std::string, at::Tensor*>> named_tensors();
};

// Prints a warning to stderr naming each tensor that holds NaN or Inf (`what` names the file).
void warn_non_finite(ModelWeights& weights, const std::string& what);

}  // namespace patchbay

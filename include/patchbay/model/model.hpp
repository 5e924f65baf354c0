#pragma once
// A decoder-only transformer with TransformerLens hook points. One forward implementation
// serves every architecture; per-architecture pieces (norm, positions, MLP) are chosen by
// ModelConfig. Forward passes can stop after a layer and start at a layer from a residual stream.
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <ATen/core/Tensor.h>

#include "patchbay/model/activation_cache.hpp"
#include "patchbay/model/config.hpp"
#include "patchbay/model/hook_registry.hpp"
#include "patchbay/model/weights.hpp"
#include "patchbay/tokenizer/tokenizer.hpp"

namespace patchbay {

struct ForwardOptions {
  // Stop after this block and return its hook_resid_post [batch, pos, d_model]; -1 runs to the logits.
  int stop_after_layer = -1;
  // Start at this block with `start_resid` as its hook_resid_pre; 0 starts from the embeddings.
  int start_layer = 0;
  at::Tensor start_resid;  // [batch, pos, d_model], required when start_layer > 0

  ForwardOptions& stop_after(int layer) { stop_after_layer = layer; return *this; }
  ForwardOptions& start_at(int layer, at::Tensor resid) {
    start_layer = layer;
    start_resid = std::move(resid);
    return *this;
  }
};

// Where a model came from; recorded as provenance in result files.
struct ModelSource {
  std::string dir;           // model directory as given
  std::string weights_file;  // the file the weights were read from
};

class Model {
 public:
  Model(ModelConfig config, ModelWeights weights, std::shared_ptr<const Tokenizer> tokenizer, ModelSource source);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const ModelSource& source() const { return source_; }
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  // Throws InputError when the model directory had no tokenizer files.
  const Tokenizer& tokenizer() const;

  at::Device device() const { return weights_.W_E.device(); }
  void to(const at::Device& device);

  // Installs a hook; it stays until the handle is destroyed.
  HookHandle add_hook(HookId id, HookFn fn) { return hooks_->add(id, std::move(fn)); }
  HookHandle add_hook(const std::string& name, HookFn fn) { return add_hook(parse_hook(name, config_), std::move(fn)); }
  const HookRegistry& hooks() const { return *hooks_; }

  // tokens: [batch, pos] int64 (any device). Returns logits [batch, pos, d_vocab], or
  // hook_resid_post [batch, pos, d_model] when options.stop_after_layer >= 0.
  // Throws InputError for bad tokens, out-of-range layers, or installed hooks this pass
  // would never reach (a hook that silently never fires hides bugs).
  at::Tensor forward(const at::Tensor& tokens, const ForwardOptions& options = {}) const;

  // Forward pass that records the activations `filter` selects among the hook points the pass
  // reaches. Returns the forward output and the cache.
  std::pair<at::Tensor, ActivationCache> run_with_cache(const at::Tensor& tokens, const HookFilter& filter,
                                                        const ForwardOptions& options = {}) const;

 private:
  ModelConfig config_;
  ModelWeights weights_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  ModelSource source_;
  std::shared_ptr<HookRegistry> hooks_;
  at::Tensor rope_cos_, rope_sin_;  // [n_ctx, d_head / 2]; undefined for learned positions
};

}  // namespace patchbay

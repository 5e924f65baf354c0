#pragma once
// A decoder-only transformer with TransformerLens hook points. One forward implementation
// serves every architecture; per-architecture pieces (norm, positions, MLP) are chosen by
// ModelConfig. Forward passes can stop after a layer and start at a layer from a residual stream.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/model/activation_cache.hpp"
#include "patchbay/model/config.hpp"
#include "patchbay/model/hook_registry.hpp"
#include "patchbay/model/weights.hpp"
#include "patchbay/tokenizer/tokenizer.hpp"

namespace patchbay {

// Keys (after rotary embedding) and values of the positions before a suffix run, per layer.
struct KeyValuePrefix {
  std::vector<at::Tensor> keys;    // [layer] -> [batch or 1, n_past, n_kv_heads, d_head]
  std::vector<at::Tensor> values;  // [layer] -> [batch or 1, n_past, n_kv_heads, d_head]
  std::int64_t length() const {
    for (const auto& k : keys)
      if (k.defined()) return k.size(1);
    return 0;
  }
};

struct ForwardOptions {
  // Stop after this block and return its hook_resid_post [batch, pos, d_model]; -1 runs to the logits.
  int stop_after_layer = -1;
  // Start at this block with `start_resid` as its hook_resid_pre; 0 starts from the embeddings.
  int start_layer = 0;
  at::Tensor start_resid;  // [batch, pos, d_model], required when start_layer > 0

  // Suffix runs: `tokens` / `start_resid` hold positions [position_offset, position_offset + pos)
  // and `past` supplies the keys and values of positions [0, position_offset) for every layer
  // the pass runs. Exact, because causal attention means earlier positions never see later ones.
  // A past with batch B' < batch serves consecutive groups of batch / B' rows.
  std::int64_t position_offset = 0;
  const KeyValuePrefix* past = nullptr;
  // At the stop layer, compute attention queries and the MLP for the last position only and
  // return its hook_resid_post as [batch, 1, d_model]. No hooks may sit at the stop layer.
  bool last_position_only = false;
  // Range-check token ids (reads them back to the host: a device sync). Analyses that already
  // validated their tokens turn it off for their many internal passes.
  bool check_token_ids = true;
  // TransformerLens's ungroup_grouped_query_attention: keys and values (and hook_k/v,
  // hook_k/v_input) get one head per query head, so each query head's key and value inputs
  // can be patched alone, as EAP-IG scores them. Same outputs; no effect without GQA.
  bool ungroup_grouped_query_attention = false;

  ForwardOptions& stop_after(int layer) { stop_after_layer = layer; return *this; }
  ForwardOptions& start_at(int layer, at::Tensor resid) {
    start_layer = layer;
    start_resid = std::move(resid);
    return *this;
  }
  ForwardOptions& suffix(std::int64_t offset, const KeyValuePrefix* prefix) {
    position_offset = offset;
    past = prefix;
    return *this;
  }
  ForwardOptions& only_last_position(bool v = true) { last_position_only = v; return *this; }
  ForwardOptions& trusted_tokens() { check_token_ids = false; return *this; }
  ForwardOptions& ungroup_kv(bool v = true) { ungroup_grouped_query_attention = v; return *this; }
};

// Where a model came from; recorded as provenance in result files.
struct ModelSource {
  std::string dir;           // model directory as given
  std::string weights_file;  // the file the weights were read from
};

class Model;
// SHA-256 of the file the weights were read from (hex), memoised per path; "unavailable" for
// models built in memory. Identifies the model in provenance and checks a probe belongs to it.
std::string weights_sha256(const Model& model);

class Model {
 public:
  Model(ModelConfig config, ModelWeights weights, std::shared_ptr<const Tokenizer> tokenizer, ModelSource source);
  // A copy shares the weights' storage (tensors are references) but not the hooks: it starts
  // with none, and hooks added to one never fire in the other.
  Model(const Model& other);
  Model& operator=(const Model& other);
  Model(Model&&) noexcept = default;
  Model& operator=(Model&&) noexcept = default;

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const ModelSource& source() const { return source_; }
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  // Throws InputError when the model directory had no tokenizer files.
  const Tokenizer& tokenizer() const;

  at::Device device() const { return weights_.W_E.device(); }
  void to(const at::Device& device);

  // Installs a hook; it stays until the handle is destroyed. Hooks are scoped interventions,
  // not part of the model's weights, so analyses holding a const Model& may install them.
  HookHandle add_hook(HookId id, HookFn fn) const { return hooks_->add(id, std::move(fn)); }
  HookHandle add_hook(const std::string& name, HookFn fn) const { return add_hook(parse_hook(name, config_), std::move(fn)); }
  const HookRegistry& hooks() const { return *hooks_; }

  // tokens: [batch, pos] int64 (any device). Returns logits [batch, pos, d_vocab], or
  // hook_resid_post [batch, pos, d_model] when options.stop_after_layer >= 0.
  // Throws InputError for bad tokens, out-of-range layers, or installed hooks this pass
  // would never reach (a hook that silently never fires hides bugs).
  at::Tensor forward(const at::Tensor& tokens, const ForwardOptions& options = {}) const;

  // Applies block `layer`'s first (which = 1) or second (which = 2) norm, or the final norm
  // (layer = -1), to x [..., d_model], without hooks: for analyses that recompute a component's
  // input, such as path patching.
  at::Tensor apply_norm(const at::Tensor& x, int layer, int which) const;
  // The logits of a final residual stream x [..., d_model]: the final norm, then the
  // unembedding, without hooks (the same arithmetic as the end of a full forward pass).
  at::Tensor unembed(const at::Tensor& x) const;

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

// The cache's hook_k (hook_rot_k for rotary models) and hook_v of layers [first, last], cut to
// the first `n_past` positions: the prefix for a suffix run. The cache must hold those hooks.
KeyValuePrefix key_value_prefix(const ActivationCache& cache, const ModelConfig& config, int first_layer,
                                int last_layer, std::int64_t n_past);

// Hook ids a cache needs for key_value_prefix over those layers.
std::vector<HookId> key_value_hooks(const ModelConfig& config, int first_layer, int last_layer);

}  // namespace patchbay

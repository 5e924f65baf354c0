#pragma once
// Residual-stream features at probe points, extracted in batches with the forward pass stopped
// at the deepest layer needed.
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/data/word_index.hpp"
#include "patchbay/model/model.hpp"

namespace patchbay {

// Layer -1 is the embeddings (blocks.0.hook_resid_pre); layer l >= 0 is blocks.l.hook_resid_post.
HookId probe_layer_hook(int layer);
std::string probe_layer_name(int layer);  // "embed", "0", "1", ...

struct ExtractOptions {
  int batch_size = 64;
  int progress = -1;  // -1: when stderr is a terminal
};

// Returns one [n_points, d_model] float32 CPU tensor per entry of `layers`, rows in the order of
// split.points. Prompts are right-padded within a batch: causal attention means padding never
// changes the activations of real tokens.
std::vector<at::Tensor> extract_features(const Model& model, const WordIndexSplit& split, const std::vector<int>& layers,
                                         const ExtractOptions& options = {});

class H5Writer;

// Streams the activations of `hooks` for every token of `tokens` ([n_sequences, pos]) into
// `out`, one dataset per hook named by its hook name, each [n_sequences * pos, ...], batch by
// batch: peak memory is one batch's activations whatever the number of tokens. The forward
// pass stops at the deepest hooked layer. Returns the number of tokens written.
std::int64_t stream_activations(const Model& model, const at::Tensor& tokens, const std::vector<HookId>& hooks,
                                H5Writer& out, const ExtractOptions& options = {});

}  // namespace patchbay

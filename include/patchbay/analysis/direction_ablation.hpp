#pragma once
// Does the model use the word-index feature? Remove the probe's directions from the residual
// stream on general text and measure what changes downstream: the model's next-token loss, the
// KL divergence of its predictions, and its attention patterns. A random subspace of the same
// rank is ablated the same way as a control.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/model/model.hpp"
#include "patchbay/probe/logistic.hpp"

namespace patchbay {

enum class DirectionAblationKind { Project, Mean };  // zero the component, or set it to its mean

struct DirectionAblationResult {
  int layer = 0;
  std::int64_t rank = 0;          // dimensions removed: classes - 1
  double loss = 0;                // mean next-token cross-entropy, unablated
  double loss_ablated = 0;
  double loss_random = 0;         // random subspace of the same rank
  double kl_ablated = 0;          // mean KL(unablated || ablated) of the next-token distribution
  double kl_random = 0;
  std::vector<double> attention_change;         // per later layer: mean total-variation distance of patterns
  std::vector<double> attention_change_random;
  std::int64_t tokens = 0;        // predictions scored
};

// The text is split into chunks of at most `chunk` tokens (each starting with BOS when the
// tokenizer has one and `bos`).
at::Tensor text_chunks(const Tokenizer& tokenizer, const std::string& text, std::int64_t chunk, bool bos);

// The general text shipped in datasets/general_text.txt (compiled in).
const std::string& general_text();

// tokens: [batch, pos]. The probe reads blocks.layer.hook_resid_post.
DirectionAblationResult ablate_probe_directions(const Model& model, const LogisticProbe& probe, int layer,
                                                const at::Tensor& tokens, DirectionAblationKind kind,
                                                std::uint64_t seed = 0);

}  // namespace patchbay

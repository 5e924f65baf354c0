#pragma once
// A word-index probe on arbitrary text ("if we take arbitrary text and visualise the probe
// outputs by token, do we see any clear patterns?"): features of any token batch at a probe's
// layer, the probe's predictions for every token, and its accuracy on a word-index split while
// the model runs with an intervention (a head ablated, a direction projected out, ...).
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "patchbay/data/word_index.hpp"
#include "patchbay/model/model.hpp"
#include "patchbay/probe/logistic.hpp"

namespace patchbay {

class H5Writer;
class H5Reader;

// The residual stream a probe of `layer` reads (-1: the embeddings, else blocks.layer.hook_resid_post)
// for every token of `tokens` [batch, pos]: [batch, pos, d_model] float32 on the CPU.
at::Tensor token_features(const Model& model, const at::Tensor& tokens, int layer);

struct ProbeTextResult {
  std::vector<std::int64_t> tokens;      // [position]
  std::vector<std::string> token_text;   // [position]
  at::Tensor predicted;                  // [position] int64: the probe's word index for each token
  at::Tensor probabilities;              // [position, class] float32
  int layer = 0;
  std::string probe;                     // the probe's result file
  std::string text;
};

// The probe's prediction for every token of `text` (tokenized with BOS when `bos`), in windows of
// the model's context length when the text is longer.
ProbeTextResult probe_text(const Model& model, const LogisticProbe& probe, int layer, const std::string& text, bool bos = true);

// A hook installed for the duration of a measurement.
struct Intervention {
  HookId hook;
  HookFn fn;
};
// Zero-ablates one attention head (its hook_z) in every forward pass the intervention applies to.
Intervention zero_head(int layer, std::int64_t head);

// Validation accuracy of `probe` (reading `layer`) on `split`'s points, with `interventions`
// active while the features are extracted.
double probe_accuracy(const Model& model, const LogisticProbe& probe, int layer, const WordIndexSplit& split,
                      const std::vector<Intervention>& interventions = {});

// kind "probe_text" (docs/FORMAT.md): one writer, one reader.
void write_probe_text(H5Writer& out, const ProbeTextResult& result);
ProbeTextResult read_probe_text(const H5Reader& in);

}  // namespace patchbay

#pragma once
// The probe's logit difference at the target position: the metric every patching, attribution
// and ablation method in patchbay optimises, instead of the model's output logits.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "patchbay/model/config.hpp"
#include "patchbay/probe/logistic.hpp"

namespace patchbay {

class ProbeLogitDiff {
 public:
  // The probe reads blocks.`layer`.hook_resid_post; metric = logit(to) - logit(from).
  // Throws InputError when the probe's width does not match the model or a class is out of range.
  ProbeLogitDiff(const LogisticProbe& probe, const ModelConfig& config, int layer, std::int64_t to, std::int64_t from);

  // resid: [batch, d_model] at the target position -> [batch], on resid's device, no host sync.
  at::Tensor operator()(const at::Tensor& resid) const;

  int layer() const { return layer_; }
  std::int64_t to() const { return to_; }
  std::int64_t from() const { return from_; }
  // d(metric)/d(resid): [d_model] in raw residual-stream coordinates.
  const at::Tensor& direction() const { return direction_; }
  double offset() const { return offset_; }

 private:
  int layer_;
  std::int64_t to_, from_;
  at::Tensor direction_;  // [d_model]
  double offset_;         // metric = resid . direction + offset
};

// Normalised patching effect (patched - corrupted) / (clean - corrupted), using the means over
// pairs of each quantity so that a small per-pair denominator cannot blow it up.
// patched: [pair, ...]; clean, corrupted: [pair].
at::Tensor normalised_effect(const at::Tensor& patched, const at::Tensor& clean, const at::Tensor& corrupted);

}  // namespace patchbay

#include "patchbay/patching/metric.hpp"

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"

namespace patchbay {

ProbeLogitDiff::ProbeLogitDiff(const LogisticProbe& probe, const ModelConfig& config, int layer, std::int64_t to,
                               std::int64_t from)
    : layer_(layer), to_(to), from_(from) {
  if (probe.n_features() != config.d_model)
    fail<InputError>("probe reads {} features but {} has d_model = {}", probe.n_features(), config.name, config.d_model);
  if (layer < 0 || layer >= config.n_layers)
    fail<InputError>("probe layer {} is out of range for patching (expected a block 0..{})", layer, config.n_layers - 1);
  direction_ = probe.logit_diff_direction(from, to);  // validates the classes
  // logits = ((x - mean) / std) W + b, so the difference is x . direction + offset.
  offset_ = (probe.b[to] - probe.b[from]).item<double>();
  if (probe.mean.defined()) offset_ -= probe.mean.dot(direction_).item<double>();
}

at::Tensor ProbeLogitDiff::operator()(const at::Tensor& resid) const {
  return at::matmul(resid, direction_.to(resid.device(), resid.scalar_type())) + offset_;
}

at::Tensor normalised_effect(const at::Tensor& patched, const at::Tensor& clean, const at::Tensor& corrupted) {
  auto c = clean.mean(), k = corrupted.mean();
  return (patched.mean(0) - k) / (c - k);
}

}  // namespace patchbay

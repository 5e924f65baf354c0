#include "patchbay/patching/metric.hpp"

#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "patchbay/core/error.hpp"

namespace patchbay {

at::Tensor Metric::operator()(const at::Tensor& resid) const {
  return evaluate(resid, at::arange(resid.size(0), at::TensorOptions().dtype(at::kLong).device(resid.device())));
}

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

at::Tensor ProbeLogitDiff::evaluate(const at::Tensor& resid, const at::Tensor&) const {
  return at::matmul(resid, direction_.to(resid.device(), resid.scalar_type())) + offset_;
}

std::string ProbeLogitDiff::describe() const {
  return fmt::format("probe logit difference (class {} - class {}) at blocks.{}.hook_resid_post", to_, from_, layer_);
}

CustomMetric::CustomMetric(int layer, Fn fn, std::string name, std::string description, int clean_sign)
    : layer_(layer), fn_(std::move(fn)), name_(std::move(name)), description_(std::move(description)), clean_sign_(clean_sign) {
  if (!fn_) fail<InputError>("custom metric '{}' has no function", name_);
  if (layer_ < 0) fail<InputError>("custom metric '{}' reads block {}; expected a block number >= 0", name_, layer_);
  if (clean_sign_ != 1 && clean_sign_ != -1) fail<InputError>("custom metric '{}': clean_sign must be +1 or -1", name_);
}

at::Tensor normalised_effect(const at::Tensor& patched, const at::Tensor& clean, const at::Tensor& corrupted) {
  auto c = clean.mean(), k = corrupted.mean();
  return (patched.mean(0) - k) / (c - k);
}

MetricSeparation metric_separation(const Metric& metric, const at::Tensor& clean, const at::Tensor& corrupted) {
  MetricSeparation s;
  const auto diff = (clean - corrupted).to(at::kCPU, at::kDouble);  // [pair]
  s.clean = clean.to(at::kDouble).mean().item<double>();
  s.corrupted = corrupted.to(at::kDouble).mean().item<double>();
  s.difference = s.clean - s.corrupted;
  const auto n = diff.numel();
  s.standard_error = n > 1 ? diff.std().item<double>() / std::sqrt(static_cast<double>(n)) : 0.0;
  const double toward_clean = s.difference * metric.clean_sign();
  if (!(toward_clean > 0)) {
    s.separated = false;
    s.warning = fmt::format("the {} metric is {} on clean prompts ({:.4g}) than on corrupted ones ({:.4g}): normalised effects "
                            "(patched - corrupted) / (clean - corrupted) mean nothing for these pairs",
                            metric.name(), metric.clean_sign() > 0 ? "not higher" : "not lower", s.clean, s.corrupted);
  } else if (n > 1 && toward_clean < 2 * s.standard_error) {
    s.separated = false;
    s.warning = fmt::format("the clean - corrupted difference of the {} metric ({:.4g}) is within twice its standard error over "
                            "{} pairs ({:.4g}): normalised effects are mostly noise; use more pairs or pairs that differ more",
                            metric.name(), s.difference, n, s.standard_error);
  }
  return s;
}

}  // namespace patchbay

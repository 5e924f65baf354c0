#pragma once
// The metric every patching, attribution, ablation and graph method reads from a run: a value
// per prompt computed from the residual stream at the target position after one block (its
// read-out, blocks.{layer}.hook_resid_post). A probe's logit difference reads the block it was
// trained on, so passes stop there; a metric of the model's output (logit difference,
// log-probability, KL divergence from the clean run) reads the last block and applies the final
// norm and unembedding itself. Users define their own by deriving from Metric or with
// CustomMetric.
#include <cstdint>
#include <functional>
#include <string>

#include <ATen/core/Tensor.h>

#include "patchbay/model/config.hpp"
#include "patchbay/probe/logistic.hpp"

namespace patchbay {

class Metric {
 public:
  virtual ~Metric() = default;
  // The block whose output the metric reads (blocks.{layer}.hook_resid_post).
  virtual int layer() const = 0;
  // resid: [rows, d_model], the read-out of each row at its target; pair: [rows] int64, the
  // pair each row belongs to (batched patching repeats pairs). Returns [rows] on resid's
  // device, differentiable, without host synchronisation.
  virtual at::Tensor evaluate(const at::Tensor& resid, const at::Tensor& pair) const = 0;
  // Short name ("probe", "logit-diff", "logprob", "kl", or the user's) and what it computes.
  virtual std::string name() const = 0;
  virtual std::string describe() const = 0;
  // +1 when the clean run should score higher than the corrupted one; -1 when lower (KL from
  // the clean run is 0 on it and positive elsewhere).
  virtual int clean_sign() const { return +1; }

  at::Tensor operator()(const at::Tensor& resid, const at::Tensor& pair) const { return evaluate(resid, pair); }
  // Rows that are the pairs themselves, in order.
  at::Tensor operator()(const at::Tensor& resid) const;
};

class ProbeLogitDiff : public Metric {
 public:
  // The probe reads blocks.`layer`.hook_resid_post; metric = logit(to) - logit(from).
  // Throws InputError when the probe's width does not match the model or a class is out of range.
  ProbeLogitDiff(const LogisticProbe& probe, const ModelConfig& config, int layer, std::int64_t to, std::int64_t from);

  int layer() const override { return layer_; }
  at::Tensor evaluate(const at::Tensor& resid, const at::Tensor& pair) const override;
  std::string name() const override { return "probe"; }
  std::string describe() const override;
  std::int64_t to() const { return to_; }
  std::int64_t from() const { return from_; }
  // d(metric)/d(resid): [d_model] in raw residual-stream coordinates (the metric is linear).
  const at::Tensor& direction() const { return direction_; }
  double offset() const { return offset_; }

 private:
  int layer_;
  std::int64_t to_, from_;
  at::Tensor direction_;  // [d_model]
  double offset_;         // metric = resid . direction + offset
};

// A metric from a user's callable over the read-out: fn(resid [rows, d_model], pair [rows]) -> [rows].
class CustomMetric : public Metric {
 public:
  using Fn = std::function<at::Tensor(const at::Tensor& resid, const at::Tensor& pair)>;
  CustomMetric(int layer, Fn fn, std::string name, std::string description, int clean_sign = +1);
  int layer() const override { return layer_; }
  at::Tensor evaluate(const at::Tensor& resid, const at::Tensor& pair) const override { return fn_(resid, pair); }
  std::string name() const override { return name_; }
  std::string describe() const override { return description_; }
  int clean_sign() const override { return clean_sign_; }

 private:
  int layer_;
  Fn fn_;
  std::string name_, description_;
  int clean_sign_;
};

// Normalised patching effect (patched - corrupted) / (clean - corrupted), using the means over
// pairs of each quantity so that a small per-pair denominator cannot blow it up.
// patched: [pair, ...]; clean, corrupted: [pair].
at::Tensor normalised_effect(const at::Tensor& patched, const at::Tensor& clean, const at::Tensor& corrupted);

// Whether the clean and corrupted runs are told apart by the metric, which every normalised
// effect divides by: the difference must point the metric's way (clean_sign) and exceed twice
// its standard error over pairs. When not, effects are noise and `warning` says why.
struct MetricSeparation {
  double clean = 0, corrupted = 0;  // means over pairs
  double difference = 0;            // clean - corrupted
  double standard_error = 0;        // of the mean per-pair difference
  bool separated = true;
  std::string warning;              // empty when separated
};
MetricSeparation metric_separation(const Metric& metric, const at::Tensor& clean, const at::Tensor& corrupted);

}  // namespace patchbay

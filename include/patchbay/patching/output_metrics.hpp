#pragma once
// Metrics of the model's own output at the target position: they read the last block's
// residual stream and apply the final norm and unembedding (Model::unembed), so every method
// runs the whole model. Each pair brings its own answers (PromptPair::correct / incorrect).
// The model must outlive the metric.
#include <vector>

#include "patchbay/data/pairs.hpp"
#include "patchbay/model/model.hpp"
#include "patchbay/patching/metric.hpp"

namespace patchbay {

// Base of the output metrics: the last block, and per-pair answer ids checked against the
// vocabulary (InputError naming the pair).
class OutputMetric : public Metric {
 public:
  int layer() const override { return model_.config().n_layers - 1; }

 protected:
  enum class Answers { None, Correct, CorrectAndIncorrect };
  OutputMetric(const Model& model, const std::vector<PromptPair>& pairs, Answers needed);
  at::Tensor logits(const at::Tensor& resid) const { return model_.unembed(resid); }  // [rows, d_vocab]
  at::Tensor answers(const at::Tensor& ids, const at::Tensor& pair, const at::Tensor& like) const;  // [rows, 1]
  const Model& model_;
  at::Tensor correct_, incorrect_;  // [pair] int64
};

// logit[correct] - logit[incorrect] at the target (TransformerLens's logit difference).
class LogitDiff : public OutputMetric {
 public:
  LogitDiff(const Model& model, const std::vector<PromptPair>& pairs);
  at::Tensor evaluate(const at::Tensor& resid, const at::Tensor& pair) const override;
  std::string name() const override { return "logit-diff"; }
  std::string describe() const override { return "logit difference logit[correct] - logit[incorrect] at the target position"; }
};

// log p(correct) of the next-token distribution at the target.
class LogProb : public OutputMetric {
 public:
  LogProb(const Model& model, const std::vector<PromptPair>& pairs);
  at::Tensor evaluate(const at::Tensor& resid, const at::Tensor& pair) const override;
  std::string name() const override { return "logprob"; }
  std::string describe() const override { return "log-probability of the correct token at the target position"; }
};

// KL(clean || run) of the next-token distribution at the target, as ACDC scores: 0 on the
// clean run itself, positive elsewhere (so lower is more clean-like). The clean distributions
// are computed once, from the pairs' clean prompts, when the metric is made.
class KlFromClean : public OutputMetric {
 public:
  KlFromClean(const Model& model, const std::vector<PromptPair>& pairs);
  at::Tensor evaluate(const at::Tensor& resid, const at::Tensor& pair) const override;
  std::string name() const override { return "kl"; }
  std::string describe() const override { return "KL divergence of the next-token distribution from the clean run's (ACDC)"; }
  int clean_sign() const override { return -1; }

 private:
  at::Tensor clean_log_probs_;  // [pair, d_vocab]
};

// The read-out of the clean prompts at the target, as every method computes it: [pair, d_model].
at::Tensor clean_readout(const Model& model, const std::vector<PromptPair>& pairs, int layer);

}  // namespace patchbay

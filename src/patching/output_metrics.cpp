#include "patchbay/patching/output_metrics.hpp"

#include <ATen/ATen.h>

#include "pair_chunks.hpp"

#include "patchbay/core/error.hpp"

namespace patchbay {

namespace {
at::Tensor answer_ids(const Model& model, const std::vector<PromptPair>& pairs, bool incorrect) {
  std::vector<std::int64_t> ids;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto id = incorrect ? pairs[i].incorrect : pairs[i].correct;
    if (id < 0 || id >= model.config().d_vocab)
      fail<InputError>("pair {} has {} answer token {}: output metrics need answer ids in 0..{} (a pairs file's correct/incorrect)",
                       i, incorrect ? "incorrect" : "correct", id, model.config().d_vocab - 1);
    ids.push_back(id);
  }
  return at::tensor(ids, at::kLong);
}
}  // namespace

OutputMetric::OutputMetric(const Model& model, const std::vector<PromptPair>& pairs, Answers needed) : model_(model) {
  if (pairs.empty()) fail<InputError>("an output metric needs at least one pair");
  if (needed != Answers::None) correct_ = answer_ids(model, pairs, false);
  if (needed == Answers::CorrectAndIncorrect) incorrect_ = answer_ids(model, pairs, true);
}

at::Tensor OutputMetric::answers(const at::Tensor& ids, const at::Tensor& pair, const at::Tensor& like) const {
  return ids.to(like.device()).index_select(0, pair).unsqueeze(1);
}

LogitDiff::LogitDiff(const Model& model, const std::vector<PromptPair>& pairs) : OutputMetric(model, pairs, Answers::CorrectAndIncorrect) {}

at::Tensor LogitDiff::evaluate(const at::Tensor& resid, const at::Tensor& pair) const {
  // Only two unembedding columns matter: norm(x) . (W_U[:, correct] - W_U[:, incorrect]) plus the
  // bias difference, instead of all d_vocab logits of every patched row.
  const auto& w = model_.weights();
  const auto correct = answers(correct_, pair, resid).squeeze(1), incorrect = answers(incorrect_, pair, resid).squeeze(1);  // [rows]
  const auto direction = w.W_U.index_select(1, correct) - w.W_U.index_select(1, incorrect);  // [d_model, rows]
  auto diff = (model_.apply_norm(resid, -1, 0) * direction.t()).sum(1);                      // [rows]
  if (w.b_U.defined()) diff = diff + w.b_U.index_select(0, correct) - w.b_U.index_select(0, incorrect);
  return diff;
}

LogProb::LogProb(const Model& model, const std::vector<PromptPair>& pairs) : OutputMetric(model, pairs, Answers::Correct) {}

at::Tensor LogProb::evaluate(const at::Tensor& resid, const at::Tensor& pair) const {
  const auto log_p = at::log_softmax(logits(resid), 1);
  return log_p.gather(1, answers(correct_, pair, log_p)).squeeze(1);
}

at::Tensor clean_readout(const Model& model, const std::vector<PromptPair>& pairs, int layer) {
  at::InferenceMode no_grad;
  const auto tokens = pair_tokens(pairs, 0);
  const auto target = pairs.front().target;
  // Cut after the target as the patching passes do: the same arithmetic, so the clean run's
  // metric is computed from exactly these values.
  return detail::readout_rows(model, tokens.narrow(1, 0, target + 1), target, layer);
}

KlFromClean::KlFromClean(const Model& model, const std::vector<PromptPair>& pairs) : OutputMetric(model, pairs, Answers::None) {
  at::Tensor log_p;
  {
    at::InferenceMode no_grad;
    log_p = at::log_softmax(logits(clean_readout(model, pairs, layer())), 1);
  }
  clean_log_probs_ = log_p.clone();  // a normal tensor: gradient runs multiply by it
}

at::Tensor KlFromClean::evaluate(const at::Tensor& resid, const at::Tensor& pair) const {
  const auto log_q = at::log_softmax(logits(resid), 1);                  // [rows, d_vocab]
  const auto log_p = clean_log_probs_.to(log_q.device()).index_select(0, pair);
  return (log_p.exp() * (log_p - log_q)).sum(1);
}

}  // namespace patchbay

#include "patchbay/patching/positional_edges.hpp"

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"

namespace patchbay {

std::pair<at::Tensor, at::Tensor> positional_valid(const EdgeLayout& layout, std::int64_t n_spans) {
  const auto whole = layout.valid();  // [sender, receiver]
  const auto R = whole.size(1) - 1;   // the read-out is last
  const auto spans = at::arange(n_spans, at::kLong);
  const auto same = spans.view({-1, 1}).eq(spans.view({1, -1}));     // [span a, span b]
  const auto not_later = spans.view({-1, 1}).le(spans.view({1, -1}));  // a <= b
  std::vector<std::uint8_t> reads_earlier;
  for (std::int64_t r = 0; r < R; ++r) reads_earlier.push_back(reads_other_positions(layout.receivers[static_cast<std::size_t>(r)].side));
  const auto kv = at::tensor(reads_earlier, at::kByte).to(at::kBool).view({1, 1, R, 1});
  const auto span_rule = at::where(kv, not_later.view({1, n_spans, 1, n_spans}), same.view({1, n_spans, 1, n_spans}));
  const auto by_span = whole.narrow(1, 0, R).view({-1, 1, R, 1}) & span_rule;  // [sender, a, receiver, b]
  auto readout = at::zeros({whole.size(0), n_spans}, at::kBool);
  readout.select(1, n_spans - 1).copy_(whole.select(1, R));
  return {by_span, readout};
}

EdgeScores edge_frame(const EdgeLayout& layout, const SpanSchema& spans, int readout_layer) {
  EdgeScores e;
  e.readout_layer = readout_layer;
  e.spans = spans;
  if (spans.empty()) {
    e.senders = layout.sender_names();
    e.receivers = layout.receiver_names();
    e.valid = layout.valid();
  } else {
    const auto A = spans.size();
    const auto S = static_cast<std::int64_t>(layout.senders.size()), R = static_cast<std::int64_t>(layout.receivers.size()) - 1;
    for (const auto& s : layout.senders)
      for (const auto& span : spans.names) e.senders.push_back(at_span(s.name, span));
    for (std::int64_t r = 0; r < R; ++r)
      for (const auto& span : spans.names) e.receivers.push_back(at_span(layout.receivers[static_cast<std::size_t>(r)].name, span));
    e.receivers.push_back("readout");
    const auto [valid4, valid_readout] = positional_valid(layout, A);
    e.valid = at::cat({valid4.reshape({S * A, R * A}), valid_readout.reshape({S * A, 1})}, 1);
  }
  e.scores = at::zeros(e.valid.sizes(), at::kFloat);
  return e;
}

EdgeScores positional_edge_scores(const EdgeLayout& layout, const SpanSchema& spans, const at::Tensor& by_span,
                                  const at::Tensor& readout, std::string method, int readout_layer) {
  const auto A = spans.size();
  const auto S = static_cast<std::int64_t>(layout.senders.size()), R = static_cast<std::int64_t>(layout.receivers.size()) - 1;
  if (by_span.sizes() != at::IntArrayRef({S, A, R, A}) || readout.sizes() != at::IntArrayRef({S, A}))
    fail<Error>("positional scores are {} and {}, expected [{}, {}, {}, {}] and [{}, {}]", by_span.sizes(), readout.sizes(), S, A, R, A, S, A);
  auto e = edge_frame(layout, spans, readout_layer);
  e.method = std::move(method);
  const auto scores = at::cat({by_span.to(at::kCPU, at::kFloat).reshape({S * A, R * A}), readout.to(at::kCPU, at::kFloat).reshape({S * A, 1})}, 1);
  e.scores = at::where(e.valid, scores, at::zeros_like(scores));
  return e;
}

}  // namespace patchbay

// Edge attribution by span (positional_edges.hpp). A head's keys at one position feed every
// later query; to split that by the query's span, the pass runs one copy of each pair per span
// (copy b computes every head's keys and values for the queries of span b) and, after each
// attention layer, every copy's per-head outputs are replaced by the true ones (a position's
// output comes from the copy of its own span). All copies then carry the same residual stream,
// the metric is that of the pair, and the gradient of copy b's key input is the gradient through
// span b's queries alone; for inputs read at their own position (queries, MLPs, the read-out)
// the copies' gradients sum to the true gradient.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "patch_common.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/model/activation_memory.hpp"
#include "patchbay/patching/positional_edges.hpp"

namespace patchbay {
namespace {

// The chunk of pairs one gradient pass takes: its [pair, pos, span, receiver, d_model] gradients
// and [pair, pos, sender, span, receiver] token scores, float32, each held about twice.
std::int64_t pairs_per_pass(std::int64_t P, std::int64_t A, std::int64_t S, std::int64_t R, std::int64_t d_model) {
  const auto per_pair = std::max(P * A * R * d_model, P * S * A * R);
  return rows_per_pass(2 * 4 * per_pair);
}

// Per-token scores [pair, pos, X] aggregated over each span's tokens: [pair, span, X].
at::Tensor aggregate(const at::Tensor& tokens, const at::Tensor& membership, SpanAggregation how) {
  switch (how) {
    case SpanAggregation::Sum: return at::einsum("npx,npa->nax", {tokens, membership});
    case SpanAggregation::AbsSum: return at::einsum("npx,npa->nax", {tokens.abs(), membership});
    case SpanAggregation::Mean: return at::einsum("npx,npa->nax", {tokens, membership}) / membership.sum(1).unsqueeze(-1);
    case SpanAggregation::MaxAbs: {
      std::vector<at::Tensor> out;
      for (std::int64_t a = 0; a < membership.size(2); ++a) out.push_back((tokens.abs() * membership.select(2, a).unsqueeze(-1)).amax(1));
      return at::stack(out, 1);
    }
  }
  return {};
}

struct SpanCopies {
  std::int64_t pairs = 0, spans = 0;
  at::Tensor membership;  // [pair, pos, span]
  // [pair * span, ...] -> [pair, span, ...] and back.
  at::Tensor split(const at::Tensor& x) const {
    auto shape = x.sizes().vec();
    shape[0] = spans;
    shape.insert(shape.begin(), pairs);
    return x.view(shape);
  }
  // Every copy's per-head outputs [pair * span, pos, head, d_model] replaced by the true ones.
  at::Tensor merged(const at::Tensor& result) const {
    const auto by_copy = split(result);                                          // [pair, span, pos, head, d_model]
    const auto truth = at::einsum("naphd,npa->nphd", {by_copy, membership.to(result.options())});  // [pair, pos, head, d_model]
    return truth.unsqueeze(1).expand(by_copy.sizes()).reshape(result.sizes());
  }
};

// d metric / d (each receiver's input) for one chunk of pairs, [pair, pos, receiver span, receiver, d_model].
at::Tensor span_gradients(const Model& model, const at::Tensor& tokens, const at::Tensor& resid0, const at::Tensor& pair_index,
                          std::int64_t target, const Metric& metric, const EdgeLayout& layout, const SpanCopies& copies) {
  c10::AutoGradMode grad(true);
  const int L = metric.layer();
  const auto A = copies.spans;
  std::map<HookId, at::Tensor> zeros;
  std::vector<HookHandle> handles;
  if (resid0.defined())
    handles.push_back(model.add_hook(hook::resid_pre(0), [&](at::Tensor& act, HookId) { act = resid0.repeat_interleave(A, 0); }));
  auto differentiate = [&](HookId id) {
    handles.push_back(model.add_hook(id, [&zeros](at::Tensor& act, HookId at) {
      auto z = at::zeros_like(act).requires_grad_(true);
      zeros[at] = z;
      act = act + z;
    }));
  };
  for (int l = 0; l <= L; ++l) {
    for (Site s : {Site::QInput, Site::KInput, Site::VInput, Site::MlpIn}) differentiate({s, l});
    handles.push_back(model.add_hook({Site::Result, l}, [&copies](at::Tensor& result, HookId) { result = copies.merged(result); }));
  }
  differentiate(hook::resid_post(L));
  const auto out = model.forward(tokens.repeat_interleave(A, 0), ForwardOptions().stop_after(L).trusted_tokens().ungroup_kv());
  metric(copies.split(out).select(1, 0).select(1, target), pair_index).sum().backward();

  auto gradient = [&](HookId id) { return copies.split(zeros.at(id).grad()); };  // [pair, span, pos, (head,) d_model]
  const auto m = copies.membership.unsqueeze(-1);                                // [pair, pos, span, 1]
  auto own_position = [&](const at::Tensor& g) { return g.sum(1).unsqueeze(2) * m; };  // copies summed, at the token's span
  std::vector<at::Tensor> per_receiver;  // each [pair, pos, span, d_model]
  for (const auto& r : layout.receivers) {
    switch (r.side) {
      case ReceiverSide::Query: per_receiver.push_back(own_position(gradient(hook::q_input(r.layer)).select(3, r.head))); break;
      case ReceiverSide::Key: per_receiver.push_back(gradient(hook::k_input(r.layer)).select(3, r.head).transpose(1, 2)); break;
      case ReceiverSide::Value: per_receiver.push_back(gradient(hook::v_input(r.layer)).select(3, r.head).transpose(1, 2)); break;
      case ReceiverSide::MlpInput: per_receiver.push_back(own_position(gradient(hook::mlp_in(r.layer)))); break;
      case ReceiverSide::Readout: per_receiver.push_back(own_position(gradient(hook::resid_post(L)))); break;
    }
  }
  return at::stack(per_receiver, 3).detach();
}

}  // namespace

EdgeScores positional_edge_attribution(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                                       PatchDirection direction, const SpanSchema& spans, SpanAggregation aggregation, int ig_steps) {
  if (ig_steps < 0 || ig_steps > 1000) fail<InputError>("EAP-IG steps must lie in 0..1000, got {}", ig_steps);
  spans.check(pairs);
  const auto setup = detail::setup_patch(model, pairs, PatchSweep::heads(), direction);
  const int L = metric.layer();
  const auto T = setup.target, P = T + 1, N = static_cast<std::int64_t>(pairs.size()), A = spans.size();
  const auto layout = edge_layout(model.config(), L);
  const auto S = static_cast<std::int64_t>(layout.senders.size()), R = static_cast<std::int64_t>(layout.receivers.size());
  const auto outputs = sender_output_hooks(L);
  const auto membership = spans.membership(P).to(model.device());  // [pair, pos, span]
  const auto chunk = pairs_per_pass(P, A, S, R, model.config().d_model);
  const int evaluations = std::max(ig_steps, 1);

  at::Tensor total = at::zeros({A, S, A, R}, at::kFloat);  // [sender span, sender, receiver span, receiver]
  for (std::int64_t i0 = 0; i0 < N; i0 += chunk) {
    const auto n = std::min(chunk, N - i0);
    const auto recv_tokens = setup.receiving_tokens.narrow(0, i0, n).narrow(1, 0, P);
    const auto src_tokens = setup.source_tokens.narrow(0, i0, n).narrow(1, 0, P);
    ActivationCache recv, src;
    {
      at::InferenceMode no_grad;
      recv = model.run_with_cache(recv_tokens, filters::only(outputs), ForwardOptions().stop_after(L)).second;
      src = model.run_with_cache(src_tokens, filters::only(outputs), ForwardOptions().stop_after(L)).second;
    }
    const auto deltas = sender_deltas(layout, src, recv);  // [pair, pos, sender, d_model]
    const SpanCopies copies{n, A, membership.narrow(0, i0, n)};
    const auto pair_index = at::arange(i0, i0 + n, at::TensorOptions().dtype(at::kLong).device(model.device()));
    at::Tensor tokens;  // [pair, pos, sender, receiver span, receiver]: per-token scores, averaged over IG steps
    for (int k = 0; k < evaluations; ++k) {
      const auto resid0 = detail::integrated_gradients_input(recv, src, k, ig_steps);
      const auto g = span_gradients(model, recv_tokens, resid0, pair_index, T, metric, layout, copies);
      const auto step = at::einsum("npsd,npbrd->npsbr", {deltas, g}) / evaluations;
      tokens = tokens.defined() ? tokens + step : step;
    }
    const auto by_span = aggregate(tokens.flatten(2), copies.membership, aggregation);  // [pair, sender span, sender * receiver span * receiver]
    total += by_span.sum(0).view({A, S, A, R}).to(at::kCPU, at::kFloat);
  }
  total /= static_cast<double>(N);
  const auto ordered = total.permute({1, 0, 3, 2});  // [sender, sender span, receiver, receiver span]
  auto e = positional_edge_scores(layout, spans, ordered.narrow(2, 0, R - 1), ordered.select(2, R - 1).select(2, A - 1),
                                  ig_steps > 0 ? "eap-ig" : "eap", L);
  e.aggregation = to_string(aggregation);
  return e;
}

}  // namespace patchbay

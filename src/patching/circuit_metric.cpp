#include "patchbay/patching/circuit_metric.hpp"

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "ablation_sources.hpp"
#include "pair_chunks.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/patching/positional_edges.hpp"

namespace patchbay {
namespace {

// The senders' outputs in the layout's order, from a cache (or ablation sources) holding
// sender_output_hooks: [pair, pos, sender, d_model].
at::Tensor stacked_sender_outputs(const EdgeLayout& layout, const detail::AblationValues& sources, const at::Tensor& like_resid,
                                  const at::Tensor& like_result) {
  std::vector<at::Tensor> out;
  for (const auto& s : layout.senders) {
    if (s.layer < 0) out.push_back(sources.of(hook::resid_pre(0), like_resid));
    else if (s.mlp) out.push_back(sources.of(hook::mlp_out(s.layer), like_resid));
    else out.push_back(sources.of({Site::Result, s.layer}, like_result).select(2, s.head));
  }
  return at::stack(out, 2);
}

// The ablated edges in the form a pass reads them. Whole components: [sender, receiver].
// By span, the pass runs one copy of each pair per span (copy c computes every head's keys
// and values for the queries of span c; after each attention layer every copy takes the true
// per-head outputs, a position's from the copy of its span), and the masks are
//   by_span [sender, sender span, receiver (no read-out), receiver span], readout [sender, sender span].
struct AblatedEdges {
  at::Tensor whole;
  at::Tensor by_span, readout;
  std::int64_t copies() const { return by_span.defined() ? by_span.size(1) : 1; }
};

// One forward pass over a batch of pairs with the ablated edges' contributions swapped. As the
// pass goes, each sender's output in this run is recorded; a receiver's input then gains
// sum over its ablated edges of (ablated output - output in this run).
class AblatedPass {
 public:
  // ablated_outputs [pair, pos, sender, d_model]; membership [pair, pos, span] (by span only).
  AblatedPass(const Model& model, const AblatedEdges& edges, const at::Tensor& ablated_outputs, const at::Tensor& membership)
      : model_(model), edges_(edges), ablated_outputs_(ablated_outputs), membership_(membership) {}

  // tokens [pair, pos] -> the read-out of each pair at `target` with the read-out's edges swapped: [pair, d_model].
  at::Tensor run(const at::Tensor& tokens, int L, std::int64_t target) {
    const auto H = model_.config().n_heads;
    const auto R = 3 * H + 1;  // receivers per layer: q, k, v of every head, the MLP
    std::vector<HookHandle> handles;
    handles.push_back(model_.add_hook(hook::resid_pre(0), [this](at::Tensor& x, HookId) { record(x); }));
    for (int l = 0; l <= L; ++l) {
      const auto first_receiver = static_cast<std::int64_t>(l) * R;
      const auto senders_before = 1 + static_cast<std::int64_t>(l) * (H + 1);  // input and every earlier layer
      for (auto [site, side] : {std::pair{Site::QInput, 0}, {Site::KInput, 1}, {Site::VInput, 2}})
        handles.push_back(model_.add_hook({site, l}, [=, this](at::Tensor& input, HookId) {  // [pair, pos, head, d_model]
          input = input + swapped(senders_before, first_receiver + side * H, H, /*other_positions=*/side > 0);
        }));
      handles.push_back(model_.add_hook({Site::Result, l}, [this, H](at::Tensor& result, HookId) {
        if (edges_.copies() > 1) result = merged(result);
        for (std::int64_t h = 0; h < H; ++h) record(result.select(2, h));
      }));
      handles.push_back(model_.add_hook(hook::mlp_in(l), [=, this](at::Tensor& input, HookId) {  // [pair, pos, d_model]
        input = input + swapped(senders_before + H, first_receiver + 3 * H, 1, false).squeeze(2);
      }));
      handles.push_back(model_.add_hook(hook::mlp_out(l), [this](at::Tensor& x, HookId) { record(x); }));
    }
    ForwardOptions fo;
    fo.stop_after(L).trusted_tokens().ungroup_kv();  // keys and values per query head, as the layout's edges
    const auto A = edges_.copies();
    const auto resid = model_.forward(A > 1 ? tokens.repeat_interleave(A, 0) : tokens, fo);
    const auto all_senders = static_cast<std::int64_t>(current_.size());
    if (A == 1) return (resid + swapped(all_senders, edges_.whole.size(1) - 1, 1, false).squeeze(2)).select(1, target);
    // By span every copy carries the same residual stream: the first copy's, with the read-out's
    // edges (from the target's span, the last) swapped at the target.
    const auto delta = by_copy(ablated_outputs_.repeat_interleave(A, 0) - current(all_senders)).select(1, 0).select(1, target);  // [pair, sender, d_model]
    const auto mask = edges_.readout.select(1, A - 1).to(delta.options());  // [sender]
    return by_copy(resid).select(1, 0).select(1, target) + at::einsum("nsd,s->nd", {delta, mask});
  }

 private:
  void record(const at::Tensor& output) { current_.push_back(output); }
  at::Tensor current(std::int64_t n_senders) const {
    return at::stack(std::vector<at::Tensor>(current_.begin(), current_.begin() + n_senders), 2);  // [rows, pos, sender, d_model]
  }
  // [pair * copy, ...] -> [pair, copy, ...]
  at::Tensor by_copy(const at::Tensor& x) const {
    auto shape = x.sizes().vec();
    shape[0] = edges_.copies();
    shape.insert(shape.begin(), x.size(0) / edges_.copies());
    return x.view(shape);
  }
  // Every copy's per-head outputs [pair * copy, pos, head, d_model] replaced by the true ones.
  at::Tensor merged(const at::Tensor& result) const {
    const auto split = by_copy(result);
    const auto truth = at::einsum("naphd,npa->nphd", {split, membership_.to(result.options())});
    return truth.unsqueeze(1).expand(split.sizes()).reshape(result.sizes());
  }

  // sum over the first n_senders senders s of ablated[s, r] * (ablated_s - current_s) for
  // receivers r in [first, first + count): [rows, pos, count, d_model]. By span an edge is
  // ablated for the token's span as sender span and, for keys and values (other_positions),
  // the copy's span as receiver span, else the token's own.
  at::Tensor swapped(std::int64_t n_senders, std::int64_t first, std::int64_t count, bool other_positions) const {
    const auto A = edges_.copies();
    const auto ablated = A > 1 ? ablated_outputs_.repeat_interleave(A, 0) : ablated_outputs_;
    const auto delta = ablated.narrow(2, 0, n_senders) - current(n_senders);  // [rows, pos, sender, d_model]
    if (A == 1) {
      const auto mask = edges_.whole.narrow(0, 0, n_senders).narrow(1, first, count).to(delta.options());  // [sender, count]
      return at::einsum("bpsd,sr->bprd", {delta, mask});
    }
    const auto m = membership_.to(delta.options());                                               // [pair, pos, span]
    const auto by_span = edges_.by_span.narrow(0, 0, n_senders).narrow(2, first, count).to(delta.options());  // [s, a, r, b]
    const auto mask = other_positions ? at::einsum("npa,sarc->ncpsr", {m, by_span})
                                      : at::einsum("npa,sra->npsr", {m, by_span.diagonal(0, 1, 3)}).unsqueeze(1).expand({m.size(0), A, m.size(1), n_senders, count});
    return at::einsum("ncpsd,ncpsr->ncprd", {by_copy(delta), mask}).flatten(0, 1);
  }

  const Model& model_;
  const AblatedEdges& edges_;
  at::Tensor ablated_outputs_;  // [pair, pos, sender, d_model]
  at::Tensor membership_;       // [pair, pos, span]
  std::vector<at::Tensor> current_;
};

// The ablated edges (valid, not kept) of a [sender, receiver] mask in edge_frame's layout.
AblatedEdges ablated_edges(const EdgeLayout& layout, const SpanSchema& spans, const at::Tensor& kept, int L) {
  const auto frame = edge_frame(layout, spans, L);
  const auto S = frame.valid.size(0), R = frame.valid.size(1);
  if (kept.dim() != 2 || kept.size(0) != S || kept.size(1) != R)
    fail<InputError>("the kept-edge mask must be [sender, receiver] = [{}, {}] for read-out layer {}{}, got {}", S, R, L,
                     spans.empty() ? "" : fmt::format(" and {} spans", spans.size()), kept.sizes());
  const auto ablated = frame.valid & ~kept.to(at::kCPU, at::kBool);
  AblatedEdges e;
  if (spans.empty()) {
    e.whole = ablated;
    return e;
  }
  const auto A = spans.size(), senders = S / A, receivers = (R - 1) / A;
  e.by_span = ablated.narrow(1, 0, R - 1).reshape({senders, A, receivers, A});
  e.readout = ablated.select(1, R - 1).reshape({senders, A});
  return e;
}

}  // namespace

at::Tensor circuit_metric(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric, const at::Tensor& kept,
                          const AblationOptions& ablation, const CircuitMetricOptions& options) {
  if (pairs.empty()) fail<InputError>("a circuit's metric needs at least one pair");
  if (options.max_batch < 1) fail<InputError>("max_batch must be positive, got {}", options.max_batch);
  at::InferenceMode no_grad;
  const int L = metric.layer();
  const auto layout = edge_layout(model.config(), L);
  const SpanSchema spans = options.spans.value_or(SpanSchema{});
  if (!spans.empty()) spans.check(pairs);
  const auto edges = ablated_edges(layout, spans, kept, L);
  const auto T = pairs.front().target;
  // By span only the tokens up to the target are run (the spans end there); the metric reads the target either way.
  const auto length = spans.empty() ? static_cast<std::int64_t>(pairs.front().clean.tokens.size()) : T + 1;
  const auto clean = pair_tokens(pairs, 0).narrow(1, 0, length), corrupted = pair_tokens(pairs, 1).narrow(1, 0, length);
  const bool nothing_ablated = !(spans.empty() ? edges.whole : edges.by_span).any().item<bool>() && !(edges.readout.defined() && edges.readout.any().item<bool>());
  if (nothing_ablated) return metric(detail::readout_rows(model, clean, T, L));

  const detail::AblationSources sources(model, clean, corrupted, L, ablation, sender_output_hooks(L));
  const auto membership = spans.empty() ? at::Tensor() : spans.membership(length);
  const auto N = clean.size(0);
  // Rows = pairs x copies; each row's pass holds its activations and, at every receiver, the
  // stacked sender outputs and their differences ([pos, sender, d_model], a few at a time).
  const auto S = static_cast<std::int64_t>(layout.senders.size());
  const auto row_bytes = forward_activation_bytes(model.config(), length, L + 1) + 6 * 4 * length * S * model.config().d_model;
  const auto chunk = std::max<std::int64_t>(1, std::min(options.max_batch, rows_per_pass(row_bytes)) / edges.copies());
  std::vector<at::Tensor> values;
  for (std::int64_t i0 = 0; i0 < N; i0 += chunk) {
    const auto n = std::min(chunk, N - i0);
    const auto batch = sources.rows(i0, n);
    const auto tokens = clean.narrow(0, i0, n);
    const auto on_model = at::TensorOptions().device(model.device());
    const auto like_resid = at::zeros({n, length, model.config().d_model}, on_model);                         // zero ablation's
    const auto like_result = at::zeros({n, length, model.config().n_heads, model.config().d_model}, on_model);  // values
    AblatedPass pass(model, edges, stacked_sender_outputs(layout, batch, like_resid, like_result),
                     membership.defined() ? membership.narrow(0, i0, n).to(model.device()) : at::Tensor());
    const auto pair_of_row = at::arange(i0, i0 + n, at::kLong);
    values.push_back(metric(pass.run(tokens.to(model.device()), L, T), pair_of_row.to(model.device())));
  }
  return at::cat(values, 0);
}

}  // namespace patchbay

#include "patchbay/patching/path.hpp"

#include <ATen/ATen.h>

#include "pair_chunks.hpp"
#include "patch_common.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/patching/positional_edges.hpp"

namespace patchbay {

namespace {

// Where a receiver's recomputed value goes: hook_mlp_in for an MLP; for a head, its own slot
// of hook_q, or of hook_k / hook_v with keys and values ungrouped (one per query head).
HookId replaced_hook(const EdgeReceiver& r) {
  switch (r.side) {
    case ReceiverSide::Query: return {Site::Q, r.layer};
    case ReceiverSide::Key: return {Site::K, r.layer};
    case ReceiverSide::Value: return {Site::V, r.layer};
    default: return hook::mlp_in(r.layer);
  }
}

// The receiving head's query, key or value from a shifted input: ln1(input) @ W + b for that
// head's columns only ([rows, pos, D]). Equal to patching the head's hook_q/k/v_input with
// `input`, without materialising every head's copy of the residual stream.
at::Tensor head_projection(const Model& model, const EdgeReceiver& r, const at::Tensor& input) {
  const auto& c = model.config();
  const auto& w = model.weights().layers[static_cast<std::size_t>(r.layer)];
  const auto D = c.d_head, H = c.n_heads, KV = c.n_kv_heads;
  const auto kv_head = r.head / (H / KV);
  const auto first = r.side == ReceiverSide::Query ? r.head : r.side == ReceiverSide::Key ? H + kv_head : H + KV + kv_head;
  auto W = w.W_qkv.narrow(1, first * D, D);
  auto out = at::matmul(model.apply_norm(input, r.layer, 1), W);
  return w.b_qkv.defined() ? out + w.b_qkv.narrow(0, first * D, D) : out;
}

// One receiver at one receiver span: the rows (sender, sender span) of its forward passes.
struct ReceiverRows {
  std::vector<std::int64_t> senders, sender_spans;
};

ReceiverRows rows_into(const EdgeLayout& layout, const EdgeReceiver& receiver, std::int64_t receiver_span) {
  ReceiverRows rows;
  for (std::size_t s = 0; s < layout.senders.size(); ++s) {
    if (!EdgeLayout::upstream(layout.senders[s], receiver)) continue;
    const auto first = reads_other_positions(receiver.side) ? 0 : receiver_span;
    for (auto a = first; a <= receiver_span; ++a) {
      rows.senders.push_back(static_cast<std::int64_t>(s));
      rows.sender_spans.push_back(a);
    }
  }
  return rows;
}

// What every patched pass of one path-patching run reads: the receiving run (its residual
// streams, head outputs and metric), the senders' differences and the spans.
struct PathRun {
  const Model& model;
  const Metric& metric;
  const PathPatchOptions& options;
  std::int64_t target = 0, pairs = 0;
  at::Tensor recv_tokens;   // [pair, pos]
  ActivationCache recv;     // sender outputs, resid_pre and resid_mid of every layer
  at::Tensor recv_metric;   // [pair]
  at::Tensor deltas;        // [pair, pos, sender, d_model]: source - receiving output
  at::Tensor membership;    // [pair, pos, span]
};

// The metric change of each row (sender, sender span) into one receiver at receiver span b,
// averaged over pairs: [rows].
at::Tensor receiver_span_effects(const PathRun& run, const EdgeReceiver& receiver, std::int64_t b, const ReceiverRows& rows_of) {
  const auto V = static_cast<std::int64_t>(rows_of.senders.size());
  const auto on_device = at::TensorOptions().dtype(at::kLong).device(run.deltas.device());
  const bool mlp = receiver.side == ReceiverSide::MlpInput;
  const auto& base = run.recv.at(mlp ? hook::resid_mid(receiver.layer) : hook::resid_pre(receiver.layer));
  // Each row's sender difference at its sender span's tokens: [pair, V, pos, d_model].
  const auto span_mask = run.membership.index_select(2, at::tensor(rows_of.sender_spans, on_device)).transpose(1, 2).unsqueeze(-1);
  const auto delta_all = run.deltas.index_select(2, at::tensor(rows_of.senders, on_device)).transpose(1, 2) * span_mask;
  // Keys and values: only the receiver span's queries see the change (whole components: all of them).
  const bool restrict_queries = reads_other_positions(receiver.side) && run.membership.size(2) > 1;
  const auto query_rows = run.membership.select(2, b).unsqueeze(-1);  // [pair, pos, 1]
  const auto recv_head_out = restrict_queries ? run.recv.at({Site::Result, receiver.layer}).select(2, receiver.head) : at::Tensor();
  std::vector<at::Tensor> values;
  const std::int64_t chunk = std::max<std::int64_t>(1, run.options.max_batch / V);
  for (std::int64_t i0 = 0; i0 < run.pairs; i0 += chunk) {
    const auto n = std::min(chunk, run.pairs - i0);
    auto rows = [&](const at::Tensor& t) { return t.narrow(0, i0, n).repeat_interleave(V, 0); };
    // The receiver's input, recomputed from the receiving run plus one sender's difference:
    // [n V, pos, d_model], sender fastest. Heads other than the receiver keep their input.
    auto input = rows(base) + delta_all.narrow(0, i0, n).flatten(0, 1);
    const auto value = mlp ? input : head_projection(run.model, receiver, input);  // [rows, pos, d_model or D]
    const auto head = receiver.head;
    std::vector<HookHandle> handles;
    handles.push_back(run.model.add_hook(replaced_hook(receiver), [value, head, mlp](at::Tensor& act, HookId) {
      if (mlp) {
        act = value;
        return;
      }
      auto mask = at::arange(act.size(2), at::TensorOptions().device(act.device())).eq(head).view({1, 1, -1, 1});
      act = at::where(mask, value.unsqueeze(2), act);
    }));
    if (restrict_queries) {
      const auto keep = rows(query_rows).to(at::kBool), original = rows(recv_head_out);  // [rows, pos, 1], [rows, pos, d_model]
      handles.push_back(run.model.add_hook({Site::Result, receiver.layer}, [keep, original, head](at::Tensor& result, HookId) {
        result = result.clone();
        result.select(2, head).copy_(at::where(keep, result.select(2, head), original));
      }));
    }
    ForwardOptions fo;
    fo.stop_after(run.metric.layer()).trusted_tokens().ungroup_kv();  // keys and values per query head, as EAP-IG
    if (receiver.layer > 0) fo.start_at(receiver.layer, rows(run.recv.at(hook::resid_pre(receiver.layer))));
    auto out = run.model.forward(rows(run.recv_tokens), fo);
    const auto pair_of_row = rows(at::arange(run.pairs, on_device));
    values.push_back(run.metric(out.select(1, run.target), pair_of_row).view({n, V}) - run.recv_metric.narrow(0, i0, n).unsqueeze(1));
  }
  return at::cat(values, 0).mean(0).to(at::kCPU);  // [V]
}

// Into the read-out (at the target, in the last span): the metric of the receiving run's
// read-out plus one sender's difference there (exact for any metric; for a linear one, the
// difference's projection). [sender, span]: non-zero at the last span only.
at::Tensor readout_effects(const PathRun& run, const at::Tensor& readout, std::int64_t n_spans) {
  const auto S = run.deltas.size(2);
  const auto shifted = readout.unsqueeze(1) + run.deltas.select(1, run.target);  // [pair, sender, d_model]
  const auto pair_of_row = at::arange(run.pairs, at::TensorOptions().dtype(at::kLong).device(readout.device())).repeat_interleave(S);
  const auto direct = run.metric(shifted.flatten(0, 1), pair_of_row).view({run.pairs, S}) - run.recv_metric.unsqueeze(1);
  auto into_readout = at::zeros({S, n_spans}, at::kFloat);
  into_readout.select(1, n_spans - 1).copy_(direct.mean(0).to(at::kCPU));
  return into_readout;
}

// Every edge's effect averaged over `pairs` (by span: `spans`, one range list per pair).
struct PathMeans {
  at::Tensor by_span;       // [sender, sender span, receiver but the read-out, receiver span]
  at::Tensor into_readout;  // [sender, sender span]
};

PathMeans path_means(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric, PatchDirection direction,
                     const EdgeLayout& layout, const SpanSchema& spans, const PathPatchOptions& options) {
  const auto setup = detail::setup_patch(model, pairs, PatchSweep::heads(), direction);
  const int L = metric.layer();
  const auto T = setup.target;
  const auto A = spans.size();
  at::InferenceMode no_grad;

  PathRun run{model, metric, options, T, static_cast<std::int64_t>(pairs.size())};
  run.recv_tokens = setup.receiving_tokens.narrow(1, 0, T + 1);
  const auto outputs = sender_output_hooks(L);
  std::vector<HookId> recv_hooks = outputs;
  for (int l = 0; l <= L; ++l) {
    recv_hooks.push_back(hook::resid_pre(l));
    recv_hooks.push_back(hook::resid_mid(l));
  }
  at::Tensor recv_out;
  std::tie(recv_out, run.recv) = model.run_with_cache(run.recv_tokens, filters::only(recv_hooks), ForwardOptions().stop_after(L));
  const auto src = model.run_with_cache(setup.source_tokens.narrow(1, 0, T + 1), filters::only(outputs), ForwardOptions().stop_after(L)).second;
  run.recv_metric = metric(recv_out.select(1, T));  // [pair]
  run.deltas = sender_deltas(layout, src, run.recv);
  run.membership = spans.membership(T + 1).to(run.deltas.device());

  const auto S = static_cast<std::int64_t>(layout.senders.size()), R = static_cast<std::int64_t>(layout.receivers.size());
  PathMeans means{at::zeros({S, A, R - 1, A}, at::kFloat), {}};
  for (std::int64_t r = 0; r + 1 < R; ++r)  // every receiver but the read-out
    for (std::int64_t b = 0; b < A; ++b) {
      const auto& receiver = layout.receivers[static_cast<std::size_t>(r)];
      const auto rows_of = rows_into(layout, receiver, b);
      if (rows_of.senders.empty()) continue;
      const auto effect = receiver_span_effects(run, receiver, b, rows_of);
      for (std::size_t v = 0; v < rows_of.senders.size(); ++v) means.by_span[rows_of.senders[v]][rows_of.sender_spans[v]][r][b] = effect[static_cast<std::int64_t>(v)];
    }
  means.into_readout = readout_effects(run, recv_out.select(1, T), A);
  return means;
}

}  // namespace

EdgeScores path_patch(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                      PatchDirection direction, const PathPatchOptions& options) {
  const auto setup = detail::setup_patch(model, pairs, PatchSweep::heads(), direction);
  const int L = metric.layer();
  const auto T = setup.target, N = static_cast<std::int64_t>(pairs.size());
  const auto layout = edge_layout(model.config(), L);
  // Whole components are the one span of every token up to the target.
  SpanSchema spans = options.spans.value_or(SpanSchema{"whole", {"all"}, std::vector<std::vector<NamedSpan>>(pairs.size(), {{"all", 0, static_cast<std::int32_t>(T)}})});
  spans.check(pairs);
  // A chunk caches the receiving run and the senders' differences ([pos, sender, d_model] a pair).
  const auto S = static_cast<std::int64_t>(layout.senders.size()), R = static_cast<std::int64_t>(layout.receivers.size());
  const auto chunk = rows_per_pass(forward_activation_bytes(model.config(), T + 1, L + 1) + 4 * (T + 1) * S * model.config().d_model);
  PathMeans means;
  detail::for_each_pair_chunk(pairs, metric, chunk, [&](const std::vector<PromptPair>& part, const Metric& m, std::int64_t first) {
    const auto n = static_cast<std::int64_t>(part.size());
    auto part_means = path_means(model, part, m, direction, layout, n == N ? spans : spans.slice(first, n), options);
    if (n == N) {
      means = std::move(part_means);
      return;
    }
    const double weight = static_cast<double>(n) / static_cast<double>(N);  // the chunks' means, weighted by their pairs
    means.by_span = means.by_span.defined() ? means.by_span + part_means.by_span * weight : part_means.by_span * weight;
    means.into_readout = means.into_readout.defined() ? means.into_readout + part_means.into_readout * weight : part_means.into_readout * weight;
  });

  if (options.spans) return positional_edge_scores(layout, spans, means.by_span, means.into_readout, "path", L);
  EdgeScores e;
  e.readout_layer = L;
  e.method = "path";
  e.senders = layout.sender_names();
  e.receivers = layout.receiver_names();
  e.valid = layout.valid();
  e.scores = at::cat({means.by_span.view({S, R - 1}), means.into_readout}, 1);
  return e;
}

}  // namespace patchbay

#include "patchbay/patching/path.hpp"

#include <ATen/ATen.h>

#include "patch_common.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/patching/edge_layout.hpp"

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

}  // namespace

EdgeScores path_patch(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                      PatchDirection direction, const PathPatchOptions& options) {
  const auto setup = detail::setup_patch(model, pairs, PatchSweep::heads(), direction);
  const int L = metric.layer();
  const auto T = setup.target;
  const auto N = static_cast<std::int64_t>(pairs.size());
  const auto layout = edge_layout(model.config(), L);
  at::InferenceMode no_grad;

  const auto recv_tokens = setup.receiving_tokens.narrow(1, 0, T + 1);
  const auto src_tokens = setup.source_tokens.narrow(1, 0, T + 1);
  const auto outputs = sender_output_hooks(L);
  std::vector<HookId> recv_hooks = outputs;
  for (int l = 0; l <= L; ++l) {
    recv_hooks.push_back(hook::resid_pre(l));
    recv_hooks.push_back(hook::resid_mid(l));
  }
  auto [recv_out, recv] = model.run_with_cache(recv_tokens, filters::only(recv_hooks), ForwardOptions().stop_after(L));
  auto src = model.run_with_cache(src_tokens, filters::only(outputs), ForwardOptions().stop_after(L)).second;
  const auto recv_metric = metric(recv_out.select(1, T));  // [pair]

  EdgeScores e;
  e.readout_layer = L;
  e.method = "path";
  e.senders = layout.sender_names();
  e.receivers = layout.receiver_names();
  const auto S = static_cast<std::int64_t>(layout.senders.size()), R = static_cast<std::int64_t>(layout.receivers.size());
  e.scores = at::zeros({S, R}, at::kFloat);
  e.valid = layout.valid();
  const auto deltas = sender_deltas(layout, src, recv);  // [pair, pos, sender, d_model]

  for (std::int64_t r = 0; r + 1 < R; ++r) {  // every receiver but the read-out
    const auto& receiver = layout.receivers[static_cast<std::size_t>(r)];
    std::vector<std::int64_t> senders;
    for (std::int64_t s = 0; s < S; ++s)
      if (EdgeLayout::upstream(layout.senders[static_cast<std::size_t>(s)], receiver)) senders.push_back(s);
    if (senders.empty()) continue;
    const auto V = static_cast<std::int64_t>(senders.size());
    const auto index = at::tensor(senders, at::kLong).to(deltas.device());
    const auto delta_all = deltas.index_select(2, index).transpose(1, 2);  // [pair, V, pos, d_model]
    const bool mlp = receiver.side == ReceiverSide::MlpInput;
    const auto& base = recv.at(mlp ? hook::resid_mid(receiver.layer) : hook::resid_pre(receiver.layer));
    std::vector<at::Tensor> values;
    const std::int64_t chunk = std::max<std::int64_t>(1, options.max_batch / V);
    for (std::int64_t i0 = 0; i0 < N; i0 += chunk) {
      const auto n = std::min(chunk, N - i0);
      auto rows = [&](const at::Tensor& t) { return t.narrow(0, i0, n).repeat_interleave(V, 0); };
      // The receiver's input, recomputed from the receiving run plus one sender's difference:
      // [n V, pos, d_model], sender fastest. Heads other than the receiver keep their input.
      auto input = rows(base) + delta_all.narrow(0, i0, n).flatten(0, 1);
      const auto value = mlp ? input : head_projection(model, receiver, input);  // [rows, pos, d_model or D]
      const auto head = receiver.head;
      HookHandle handle = model.add_hook(replaced_hook(receiver), [value, head, mlp](at::Tensor& act, HookId) {
        if (mlp) {
          act = value;
          return;
        }
        auto mask = at::arange(act.size(2), at::TensorOptions().device(act.device())).eq(head).view({1, 1, -1, 1});
        act = at::where(mask, value.unsqueeze(2), act);
      });
      ForwardOptions fo;
      fo.stop_after(L).trusted_tokens().ungroup_kv();  // keys and values per query head, as EAP-IG
      if (receiver.layer > 0) fo.start_at(receiver.layer, rows(recv.at(hook::resid_pre(receiver.layer))));
      auto out = model.forward(rows(recv_tokens), fo);
      const auto pair_of_row = rows(at::arange(N, at::TensorOptions().dtype(at::kLong).device(out.device())));
      values.push_back(metric(out.select(1, T), pair_of_row).view({n, V}) - recv_metric.narrow(0, i0, n).unsqueeze(1));
    }
    auto effect = at::cat(values, 0).mean(0).to(at::kCPU);  // [V]
    for (std::int64_t v = 0; v < V; ++v) e.scores[senders[static_cast<std::size_t>(v)]][r] = effect[v];
  }
  // Into the read-out: the metric of the receiving run's read-out plus one sender's difference
  // there (exact for any metric; for a linear one, the difference's projection).
  const auto readout = recv_out.select(1, T);                            // [pair, d_model]
  const auto shifted = readout.unsqueeze(1) + deltas.select(1, T);       // [pair, sender, d_model]
  const auto pair_of_row = at::arange(N, at::TensorOptions().dtype(at::kLong).device(readout.device())).repeat_interleave(S);
  const auto direct = metric(shifted.flatten(0, 1), pair_of_row).view({N, S}) - recv_metric.unsqueeze(1);
  e.scores.select(1, R - 1).copy_(direct.mean(0).to(at::kCPU));
  return e;
}

}  // namespace patchbay

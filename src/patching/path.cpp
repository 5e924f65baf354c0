#include "patchbay/patching/path.hpp"

#include <ATen/ATen.h>

#include "patch_common.hpp"
#include "patchbay/analysis/direct.hpp"
#include "patchbay/core/error.hpp"

namespace patchbay {

EdgeScores path_patch(const Model& model, const std::vector<PromptPair>& pairs, const ProbeLogitDiff& metric,
                      PatchDirection direction, const PathPatchOptions& options) {
  const auto& c = model.config();
  const auto setup = detail::setup_patch(model, pairs, PatchSweep::heads(), direction);
  const int L = metric.layer();
  const auto T = setup.target;
  const auto N = static_cast<std::int64_t>(pairs.size());
  const auto H = c.n_heads, KV = c.n_kv_heads, D = c.d_head;
  at::InferenceMode no_grad;

  const auto recv_tokens = setup.receiving_tokens.narrow(1, 0, T + 1);
  const auto src_tokens = setup.source_tokens.narrow(1, 0, T + 1);
  std::vector<HookId> outputs{hook::resid_pre(0)};
  std::vector<HookId> receiving_state;
  for (int l = 0; l <= L; ++l) {
    outputs.push_back({Site::Result, l});
    outputs.push_back(hook::mlp_out(l));
    receiving_state.push_back(hook::resid_pre(l));
    receiving_state.push_back(hook::resid_mid(l));
  }
  std::vector<HookId> recv_hooks = outputs;
  recv_hooks.insert(recv_hooks.end(), receiving_state.begin(), receiving_state.end());
  auto [recv_out, recv] = model.run_with_cache(recv_tokens, filters::only(recv_hooks), ForwardOptions().stop_after(L));
  auto src = model.run_with_cache(src_tokens, filters::only(outputs), ForwardOptions().stop_after(L)).second;
  const auto recv_metric = metric(recv_out.select(1, T));  // [pair]

  // Senders and their output differences [pair, pos, d_model], in forward order.
  EdgeScores e;
  e.readout_layer = L;
  e.method = "path";
  std::vector<at::Tensor> deltas;
  std::vector<int> sender_layer;
  std::vector<bool> sender_is_mlp;
  auto add_sender = [&](std::string name, at::Tensor delta, int layer, bool mlp) {
    e.senders.push_back(std::move(name));
    deltas.push_back(std::move(delta));
    sender_layer.push_back(layer);
    sender_is_mlp.push_back(mlp);
  };
  add_sender("input", src.at(hook::resid_pre(0)) - recv.at(hook::resid_pre(0)), -1, false);
  for (int l = 0; l <= L; ++l) {
    auto heads = src.at({Site::Result, l}) - recv.at({Site::Result, l});
    for (std::int64_t h = 0; h < H; ++h) add_sender(head_name(l, h), heads.select(2, h), l, false);
    add_sender(mlp_name(l), src.at(hook::mlp_out(l)) - recv.at(hook::mlp_out(l)), l, true);
  }
  const auto S = static_cast<std::int64_t>(e.senders.size());

  // Receivers in the EdgeScores order: per layer q, k, v inputs of each head, then the MLP; then the read-out.
  for (int l = 0; l <= L; ++l) {
    for (int k = 0; k < 3; ++k)
      for (std::int64_t h = 0; h < H; ++h) e.receivers.push_back(fmt::format("{}<{}>", head_name(l, h), "qkv"[k]));
    e.receivers.push_back(mlp_name(l));
  }
  e.receivers.push_back("readout");
  const auto R = static_cast<std::int64_t>(e.receivers.size());
  e.scores = at::zeros({S, R}, at::kFloat);
  e.valid = at::zeros({S, R}, at::kBool);

  auto upstream = [&](std::int64_t s, int layer, bool mlp) {
    return sender_layer[s] < layer || (sender_layer[s] == layer && !sender_is_mlp[s] && mlp);
  };
  std::int64_t r_index = 0;
  for (int l = 0; l <= L; ++l) {
    const auto& w = model.weights().layers[static_cast<std::size_t>(l)];
    for (int kind = 0; kind < 4; ++kind) {  // 0, 1, 2: q, k, v inputs of each head; 3: the MLP's input
      const bool mlp = kind == 3;
      for (std::int64_t h = 0; h < (mlp ? 1 : H); ++h, ++r_index) {
        std::vector<std::int64_t> senders;
        for (std::int64_t s = 0; s < S; ++s)
          if (upstream(s, l, mlp)) senders.push_back(s);
        if (senders.empty()) continue;
        const auto V = static_cast<std::int64_t>(senders.size());
        std::vector<at::Tensor> sender_deltas;
        for (auto s : senders) sender_deltas.push_back(deltas[static_cast<std::size_t>(s)]);
        const auto delta_all = at::stack(sender_deltas, 1);  // [pair, V, pos, d_model]
        std::vector<at::Tensor> values;
        const std::int64_t chunk = std::max<std::int64_t>(1, options.max_batch / V);
        for (std::int64_t i0 = 0; i0 < N; i0 += chunk) {
          const auto n = std::min(chunk, N - i0);
          auto delta = delta_all.narrow(0, i0, n).flatten(0, 1);  // [n V, pos, d_model], sender fastest
          auto rows = [&](const at::Tensor& t) { return t.narrow(0, i0, n).repeat_interleave(V, 0); };
          HookHandle handle;
          if (mlp) {
            auto input = model.apply_norm(rows(recv.at(hook::resid_mid(l))) + delta, l, 2);
            handle = model.add_hook({Site::Ln2Normalized, l}, [input](at::Tensor& x, HookId) { x = input; });
          } else {
            // The receiving head's q (or k, v) recomputed from the shifted input; its other heads untouched.
            const Site site = kind == 0 ? Site::Q : kind == 1 ? Site::K : Site::V;
            const auto heads = kind == 0 ? H : KV;
            const auto column = kind == 0 ? 0 : kind == 1 ? H : H + KV;
            const auto slot = kind == 0 ? h : h / (H / KV);  // k/v: the kv head serving query head h
            auto x = model.apply_norm(rows(recv.at(hook::resid_pre(l))) + delta, l, 1);
            auto W = w.W_qkv.narrow(1, (column + slot) * D, D);
            auto b = w.b_qkv.defined() ? w.b_qkv.narrow(0, (column + slot) * D, D) : at::Tensor();
            auto value = b.defined() ? at::matmul(x, W) + b : at::matmul(x, W);  // [rows, pos, D]
            handle = model.add_hook({site, l}, [value, slot, heads](at::Tensor& act, HookId) {
              auto mask = at::arange(heads, at::TensorOptions().device(act.device())).eq(slot).view({1, 1, heads, 1});
              act = at::where(mask, value.unsqueeze(2), act);
            });
          }
          ForwardOptions fo;
          fo.stop_after(L).trusted_tokens();
          if (l > 0) fo.start_at(l, rows(recv.at(hook::resid_pre(l))));
          auto out = model.forward(rows(recv_tokens), fo);
          values.push_back(metric(out.select(1, T)).view({n, V}) - recv_metric.narrow(0, i0, n).unsqueeze(1));
        }
        auto effect = at::cat(values, 0).mean(0).to(at::kCPU);  // [V]
        for (std::int64_t v = 0; v < V; ++v) {
          e.scores[senders[v]][r_index - 0] = effect[v];
          e.valid[senders[v]][r_index] = true;
        }
      }
    }
  }
  // The read-out is linear in the residual stream: the direct effect is the difference's projection.
  const auto d = metric.direction().to(recv_out.device());
  for (std::int64_t s = 0; s < S; ++s) {
    e.scores[s][R - 1] = at::matmul(deltas[static_cast<std::size_t>(s)].select(1, T), d).mean().to(at::kCPU);
    e.valid[s][R - 1] = true;
  }
  return e;
}

}  // namespace patchbay

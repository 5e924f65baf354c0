#include "patchbay/patching/attribution.hpp"

#include <map>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "patch_common.hpp"
#include "patchbay/analysis/direct.hpp"
#include "patchbay/core/error.hpp"

namespace patchbay {
namespace {

// Runs `tokens` with a zero tensor that requires grad added at each hook in `sites` (so their
// gradients are d metric / d activation, with the graph intact), optionally replacing
// blocks.0.hook_resid_pre by `resid0`. Returns the activations and their gradients.
struct GradientRun {
  std::map<HookId, at::Tensor> activations, gradients;
  at::Tensor metric;  // [pair]
};
GradientRun gradient_run(const Model& model, const at::Tensor& tokens, std::int64_t target, const ProbeLogitDiff& metric,
                         const std::vector<HookId>& sites, const std::vector<HookId>& recorded, const at::Tensor& resid0 = {}) {
  c10::AutoGradMode grad(true);
  GradientRun run;
  std::map<HookId, at::Tensor> zeros;
  std::vector<HookHandle> handles;
  if (resid0.defined())
    handles.push_back(model.add_hook(hook::resid_pre(0), [&](at::Tensor& act, HookId) { act = resid0; }));
  for (HookId id : sites)
    handles.push_back(model.add_hook(id, [&](at::Tensor& act, HookId at) {
      auto z = at::zeros_like(act).requires_grad_(true);
      zeros[at] = z;
      act = act + z;
    }));
  for (HookId id : recorded)
    handles.push_back(model.add_hook(id, [&](at::Tensor& act, HookId at) { run.activations[at] = act.detach(); }));
  auto out = model.forward(tokens, ForwardOptions().stop_after(metric.layer()));
  run.metric = metric(out.select(1, target));
  run.metric.sum().backward();
  for (auto& [id, z] : zeros) run.gradients[id] = z.grad().defined() ? z.grad() : at::zeros_like(z);
  run.metric = run.metric.detach();
  return run;
}

// Sums (source - receiving) * gradient over the dimensions a sweep does not keep, giving
// [pair, (head), (position)] for one layer.
at::Tensor reduce_to_sweep(const at::Tensor& product, const PatchSweep& sweep) {
  const int pos_axis = detail::position_axis(sweep.site), h_axis = detail::head_axis(sweep.site);
  std::vector<std::int64_t> keep{0};
  if (sweep.per_head) keep.push_back(h_axis);
  if (sweep.per_position) keep.push_back(pos_axis);
  std::vector<std::int64_t> drop;
  for (std::int64_t d = 0; d < product.dim(); ++d)
    if (std::find(keep.begin(), keep.end(), d) == keep.end()) drop.push_back(d);
  auto reduced = drop.empty() ? product : product.sum(drop);  // axes kept in increasing order
  // Result order is (head, position); for q/k/v/z the position axis comes first.
  if (sweep.per_head && sweep.per_position && pos_axis < h_axis) reduced = reduced.transpose(1, 2);
  return reduced;
}

// LayerNorm / RMSNorm Jacobian-transpose-vector product at x: maps a gradient on the norm's
// output to its input. x, v: [..., d]; scale: [..., 1] (the cached hook_scale).
at::Tensor norm_vjp(const at::Tensor& x, const at::Tensor& scale, const NormWeights& w, const ModelConfig& c,
                    const at::Tensor& v) {
  auto u = v * w.w;
  if (c.norm == NormKind::LayerNorm) {
    auto xhat = (x - x.mean(-1, true)) / scale;
    return (u - u.mean(-1, true) - xhat * (u * xhat).mean(-1, true)) / scale;
  }
  return (u - x * (u * x).mean(-1, true) / scale.pow(2)) / scale;
}

}  // namespace

PatchResult attribution_patch(const Model& model, const std::vector<PromptPair>& pairs, const ProbeLogitDiff& metric,
                              const PatchSweep& sweep, PatchDirection direction) {
  const auto& c = model.config();
  const auto setup = detail::setup_patch(model, pairs, sweep, direction);
  const int L = metric.layer();
  const auto T = setup.target;
  std::vector<HookId> sites;
  for (int l = 0; l <= L; ++l) sites.push_back({sweep.site, l});
  at::Tensor src_out;
  ActivationCache src;
  {
    at::InferenceMode no_grad;
    std::tie(src_out, src) = model.run_with_cache(setup.source_tokens, filters::only(sites), ForwardOptions().stop_after(L));
  }
  auto recv = gradient_run(model, setup.receiving_tokens, T, metric, sites, sites);

  const auto src_metric = metric(src_out.select(1, T));
  PatchResult r = detail::start_result(sweep, direction, recv.metric, src_metric);
  const auto N = static_cast<std::int64_t>(pairs.size());
  auto shape = detail::result_shape(sweep, N, c, setup.length);
  std::vector<std::int64_t> view_as(shape.size(), 1);
  view_as[0] = N;
  r.metric = recv.metric.view(view_as).expand(shape).clone();
  for (int l = 0; l <= L; ++l) {
    HookId id{sweep.site, l};
    auto delta = (src.at(id) - recv.activations.at(id)) * recv.gradients.at(id);
    r.metric.select(1, l).add_(reduce_to_sweep(delta, sweep));
  }
  return r;
}

EdgeScores edge_attribution(const Model& model, const std::vector<PromptPair>& pairs, const ProbeLogitDiff& metric,
                            PatchDirection direction, int ig_steps) {
  const auto& c = model.config();
  if (ig_steps < 0 || ig_steps > 1000) fail<InputError>("EAP-IG steps must lie in 0..1000, got {}", ig_steps);
  const auto setup = detail::setup_patch(model, pairs, PatchSweep::heads(), direction);
  const int L = metric.layer();
  const auto T = setup.target;
  const auto N = static_cast<double>(pairs.size());
  const auto H = c.n_heads, KV = c.n_kv_heads, D = c.d_head;

  // Sender outputs: the input (embeddings, plus positions), each head's result, each MLP's output.
  std::vector<HookId> outputs{hook::resid_pre(0)};
  for (int l = 0; l <= L; ++l) {
    outputs.push_back({Site::Result, l});
    outputs.push_back(hook::mlp_out(l));
  }
  // Receiver gradients are taken at q, k, v and the MLP's normalised input, then mapped back to
  // the residual stream through the weights and the norm's Jacobian (needs the norm inputs and scales).
  std::vector<HookId> grad_sites, recorded;
  for (int l = 0; l <= L; ++l) {
    for (Site s : {Site::Q, Site::K, Site::V, Site::Ln2Normalized}) grad_sites.push_back({s, l});
    for (Site s : {Site::ResidPre, Site::ResidMid, Site::Ln1Scale, Site::Ln2Scale}) recorded.push_back({s, l});
  }
  ActivationCache recv_out, src_out;
  {
    at::InferenceMode no_grad;
    recv_out = model.run_with_cache(setup.receiving_tokens, filters::only(outputs), ForwardOptions().stop_after(L)).second;
    src_out = model.run_with_cache(setup.source_tokens, filters::only(outputs), ForwardOptions().stop_after(L)).second;
  }

  // Gradients at the receiving run (EAP) or averaged along the straight line from the receiving
  // to the source input embeddings (EAP-IG, midpoint rule).
  std::map<HookId, at::Tensor> grad_sum;
  std::map<HookId, at::Tensor> acts;  // activations of the last evaluation, for the norm Jacobians
  const int evaluations = std::max(ig_steps, 1);
  std::vector<at::Tensor> input_grads;
  for (int k = 0; k < evaluations; ++k) {
    at::Tensor resid0;
    if (ig_steps > 0) {
      const double alpha = (k + 0.5) / ig_steps;
      resid0 = recv_out.at(hook::resid_pre(0)) + alpha * (src_out.at(hook::resid_pre(0)) - recv_out.at(hook::resid_pre(0)));
    }
    auto run = gradient_run(model, setup.receiving_tokens, T, metric, grad_sites, recorded, resid0);
    // Map to residual-stream input gradients per receiver now, while the activations match.
    for (int l = 0; l <= L; ++l) {
      const auto& w = model.weights().layers[static_cast<std::size_t>(l)];
      const auto x1 = run.activations.at(hook::resid_pre(l)), s1 = run.activations.at({Site::Ln1Scale, l});
      auto per_head = [&](Site s, std::int64_t heads, std::int64_t first_column) {
        auto g = run.gradients.at({s, l});  // [pair, pos, heads, D]
        auto W = w.W_qkv.narrow(1, first_column * D, heads * D).view({c.d_model, heads, D});
        auto g_norm = at::einsum("bphe,dhe->bphd", {g, W});  // [pair, pos, heads, d_model]
        return norm_vjp(x1.unsqueeze(2), s1.unsqueeze(2), w.ln1, c, g_norm);
      };
      std::vector<at::Tensor> parts{per_head(Site::Q, H, 0)};
      auto gk = per_head(Site::K, KV, H), gv = per_head(Site::V, KV, H + KV);
      if (KV != H) {
        // A kv head serves H / KV query heads: each gets an equal share of its input gradient, so
        // the edges into a layer still add up to the layer's total.
        gk = gk.repeat_interleave(H / KV, 2) / static_cast<double>(H / KV);
        gv = gv.repeat_interleave(H / KV, 2) / static_cast<double>(H / KV);
      }
      parts.push_back(gk);
      parts.push_back(gv);
      parts.push_back(norm_vjp(run.activations.at(hook::resid_mid(l)), run.activations.at({Site::Ln2Scale, l}), w.ln2, c,
                               run.gradients.at({Site::Ln2Normalized, l}))
                          .unsqueeze(2));
      auto g = at::cat(parts, 2);  // [pair, pos, 3H + 1, d_model]
      HookId key{Site::ResidPre, l};
      grad_sum[key] = grad_sum.count(key) ? grad_sum[key] + g : g;
    }
  }

  // Names and gradients of receivers, in order.
  EdgeScores e;
  e.readout_layer = L;
  e.method = ig_steps > 0 ? "eap-ig" : "eap";
  std::vector<at::Tensor> receiver_grads;  // each [pair, pos, d_model]
  std::vector<int> receiver_layer;
  std::vector<bool> receiver_is_mlp;
  for (int l = 0; l <= L; ++l) {
    auto g = grad_sum.at({Site::ResidPre, l}) / evaluations;
    for (int k = 0; k < 3; ++k)
      for (std::int64_t h = 0; h < H; ++h) {
        e.receivers.push_back(fmt::format("{}<{}>", head_name(l, h), "qkv"[k]));
        receiver_grads.push_back(g.select(2, k * H + h));
        receiver_layer.push_back(l);
        receiver_is_mlp.push_back(false);
      }
    e.receivers.push_back(mlp_name(l));
    receiver_grads.push_back(g.select(2, 3 * H));
    receiver_layer.push_back(l);
    receiver_is_mlp.push_back(true);
  }
  // The read-out sees the residual stream at the target only: its gradient is the direction there.
  auto readout = at::zeros_like(receiver_grads.front());
  readout.select(1, T).copy_(metric.direction().to(readout.device()).expand({readout.size(0), c.d_model}));
  e.receivers.push_back("readout");
  receiver_grads.push_back(readout);
  receiver_layer.push_back(L + 1);
  receiver_is_mlp.push_back(false);

  // Sender output differences.
  std::vector<at::Tensor> deltas;  // each [pair, pos, d_model]
  std::vector<int> sender_layer;
  std::vector<bool> sender_is_mlp;
  auto diff = [&](HookId id) { return src_out.at(id) - recv_out.at(id); };
  e.senders.push_back("input");
  deltas.push_back(diff(hook::resid_pre(0)));
  sender_layer.push_back(-1);
  sender_is_mlp.push_back(false);
  for (int l = 0; l <= L; ++l) {
    auto heads = diff({Site::Result, l});  // [pair, pos, H, d_model]
    for (std::int64_t h = 0; h < H; ++h) {
      e.senders.push_back(head_name(l, h));
      deltas.push_back(heads.select(2, h));
      sender_layer.push_back(l);
      sender_is_mlp.push_back(false);
    }
    e.senders.push_back(mlp_name(l));
    deltas.push_back(diff(hook::mlp_out(l)));
    sender_layer.push_back(l);
    sender_is_mlp.push_back(true);
  }
  auto Dm = at::stack(deltas, 2);           // [pair, pos, S, d_model]
  auto G = at::stack(receiver_grads, 2);    // [pair, pos, R, d_model]
  e.scores = at::einsum("bpsd,bprd->sr", {Dm, G}) / N;
  // Edges exist from a sender to any later receiver; attention output of a layer feeds its MLP.
  auto valid = at::zeros({static_cast<std::int64_t>(e.senders.size()), static_cast<std::int64_t>(e.receivers.size())}, at::kBool);
  for (std::size_t s = 0; s < e.senders.size(); ++s)
    for (std::size_t r = 0; r < e.receivers.size(); ++r) {
      bool upstream = sender_layer[s] < receiver_layer[r] ||
                      (sender_layer[s] == receiver_layer[r] && !sender_is_mlp[s] && receiver_is_mlp[r]);
      valid[static_cast<std::int64_t>(s)][static_cast<std::int64_t>(r)] = upstream;
    }
  e.valid = valid;
  e.scores = at::where(valid.to(e.scores.device()), e.scores, at::zeros_like(e.scores));
  return e;
}

double correlation(const at::Tensor& a, const at::Tensor& b) {
  auto x = a.flatten().to(at::kDouble), y = b.flatten().to(at::kDouble);
  if (x.numel() != y.numel() || x.numel() < 2) fail<InputError>("correlation needs two tensors of the same size >= 2");
  x = x - x.mean();
  y = y - y.mean();
  auto denom = (x.norm() * y.norm()).item<double>();
  return denom == 0 ? 0.0 : (x * y).sum().item<double>() / denom;
}

}  // namespace patchbay

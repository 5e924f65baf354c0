#include "patchbay/patching/attribution.hpp"

#include <map>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "pair_chunks.hpp"
#include "patch_common.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/patching/edge_layout.hpp"

namespace patchbay {
namespace {

// Runs `tokens` with a zero tensor that requires grad added at each hook in `sites` (so their
// gradients are d metric / d activation, with the graph intact), optionally replacing
// blocks.0.hook_resid_pre by `resid0`. Returns the activations and their gradients.
struct GradientRun {
  std::map<HookId, at::Tensor> activations, gradients;
  at::Tensor metric;  // [pair]
};
GradientRun gradient_run(const Model& model, const at::Tensor& tokens, std::int64_t target, const Metric& metric,
                         const std::vector<HookId>& sites, const std::vector<HookId>& recorded, const at::Tensor& resid0 = {},
                         bool ungroup_kv = false) {
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
  auto out = model.forward(tokens, ForwardOptions().stop_after(metric.layer()).ungroup_kv(ungroup_kv));
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

// attribution_patch over pairs that fit one chunk.
PatchResult attribution_chunk(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
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

}  // namespace

PatchResult attribution_patch(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                              const PatchSweep& sweep, PatchDirection direction) {
  const auto setup = detail::setup_patch(model, pairs, sweep, direction);
  // A gradient run keeps its forward pass's activations and their gradients.
  const auto chunk = rows_per_pass(2 * forward_activation_bytes(model.config(), setup.length, metric.layer() + 1));
  std::vector<PatchResult> parts;
  detail::for_each_pair_chunk(pairs, metric, chunk, [&](const std::vector<PromptPair>& part, const Metric& m, std::int64_t) {
    parts.push_back(attribution_chunk(model, part, m, sweep, direction));
  });
  return detail::concat_pairs(std::move(parts));
}

namespace {

// d metric / d (input of each receiver) [pair, pos, receiver, d_model], in the layout's receiver
// order, from one gradient run. The inputs are TransformerLens's split q/k/v inputs (keys and
// values ungrouped: one per query head, as EAP-IG scores them), hook_mlp_in, and for the
// read-out the residual stream it reads (non-zero at the target only).
at::Tensor receiver_gradients(const Model& model, const at::Tensor& tokens, std::int64_t target,
                              const Metric& metric, const EdgeLayout& layout, const at::Tensor& resid0) {
  const int L = metric.layer();
  std::vector<HookId> inputs;
  for (int l = 0; l <= L; ++l)
    for (Site s : {Site::QInput, Site::KInput, Site::VInput, Site::MlpIn}) inputs.push_back({s, l});
  inputs.push_back(hook::resid_post(L));
  auto run = gradient_run(model, tokens, target, metric, inputs, {}, resid0, /*ungroup_kv=*/true);
  std::vector<at::Tensor> per_receiver;  // each [pair, pos, d_model]
  for (const auto& r : layout.receivers) {
    switch (r.side) {
      case ReceiverSide::Query: per_receiver.push_back(run.gradients.at(hook::q_input(r.layer)).select(2, r.head)); break;
      case ReceiverSide::Key: per_receiver.push_back(run.gradients.at(hook::k_input(r.layer)).select(2, r.head)); break;
      case ReceiverSide::Value: per_receiver.push_back(run.gradients.at(hook::v_input(r.layer)).select(2, r.head)); break;
      case ReceiverSide::MlpInput: per_receiver.push_back(run.gradients.at(hook::mlp_in(r.layer))); break;
      case ReceiverSide::Readout: per_receiver.push_back(run.gradients.at(hook::resid_post(L))); break;
    }
  }
  return at::stack(per_receiver, 2);
}

}  // namespace

at::Tensor sender_deltas(const EdgeLayout& layout, const ActivationCache& src, const ActivationCache& recv) {
  std::vector<at::Tensor> deltas;
  for (const auto& s : layout.senders) {
    if (s.layer < 0) deltas.push_back(src.at(hook::resid_pre(0)) - recv.at(hook::resid_pre(0)));
    else if (s.mlp) deltas.push_back(src.at(hook::mlp_out(s.layer)) - recv.at(hook::mlp_out(s.layer)));
    else deltas.push_back((src.at({Site::Result, s.layer}) - recv.at({Site::Result, s.layer})).select(2, s.head));
  }
  return at::stack(deltas, 2);
}

std::vector<HookId> sender_output_hooks(int readout_layer) {
  std::vector<HookId> out{hook::resid_pre(0)};
  for (int l = 0; l <= readout_layer; ++l) {
    out.push_back({Site::Result, l});
    out.push_back(hook::mlp_out(l));
  }
  return out;
}

namespace {

// The sum over `pairs` of every edge's attribution score: [sender, receiver].
at::Tensor edge_score_sums(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric, PatchDirection direction,
                           const EdgeLayout& layout, int ig_steps) {
  const auto setup = detail::setup_patch(model, pairs, PatchSweep::heads(), direction);
  const int L = metric.layer();
  const auto outputs = sender_output_hooks(L);
  ActivationCache recv_out, src_out;
  {
    at::InferenceMode no_grad;
    recv_out = model.run_with_cache(setup.receiving_tokens, filters::only(outputs), ForwardOptions().stop_after(L)).second;
    src_out = model.run_with_cache(setup.source_tokens, filters::only(outputs), ForwardOptions().stop_after(L)).second;
  }

  // Gradients at the receiving run (EAP) or averaged along the straight line from the receiving
  // to the source input embeddings (EAP-IG, midpoint rule).
  const int evaluations = std::max(ig_steps, 1);
  at::Tensor grad_sum;  // [pair, pos, receiver, d_model]
  for (int k = 0; k < evaluations; ++k) {
    const auto resid0 = detail::integrated_gradients_input(recv_out, src_out, k, ig_steps);
    auto g = receiver_gradients(model, setup.receiving_tokens, setup.target, metric, layout, resid0);
    grad_sum = grad_sum.defined() ? grad_sum + g : g;
  }
  const auto deltas = sender_deltas(layout, src_out, recv_out);  // [pair, pos, sender, d_model]
  return at::einsum("bpsd,bprd->sr", {deltas, grad_sum / evaluations});
}

}  // namespace

EdgeScores edge_attribution(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                            PatchDirection direction, int ig_steps) {
  if (ig_steps < 0 || ig_steps > 1000) fail<InputError>("EAP-IG steps must lie in 0..1000, got {}", ig_steps);
  const auto setup = detail::setup_patch(model, pairs, PatchSweep::heads(), direction);
  const int L = metric.layer();
  const auto layout = edge_layout(model.config(), L);
  // A chunk holds a gradient run, and per pair the senders' differences and every receiver's
  // gradient ([pos, sender or receiver, d_model], twice over for the sum of IG steps).
  const auto S = static_cast<std::int64_t>(layout.senders.size()), R = static_cast<std::int64_t>(layout.receivers.size());
  const auto held = 4 * setup.length * (S + 2 * R) * model.config().d_model;
  const auto chunk = rows_per_pass(2 * forward_activation_bytes(model.config(), setup.length, L + 1) + held);
  at::Tensor sums;  // [sender, receiver]
  detail::for_each_pair_chunk(pairs, metric, chunk, [&](const std::vector<PromptPair>& part, const Metric& m, std::int64_t) {
    auto part_sums = edge_score_sums(model, part, m, direction, layout, ig_steps);
    sums = sums.defined() ? sums + part_sums : part_sums;
  });

  EdgeScores e;
  e.readout_layer = L;
  e.method = ig_steps > 0 ? "eap-ig" : "eap";
  e.senders = layout.sender_names();
  e.receivers = layout.receiver_names();
  e.scores = sums / static_cast<double>(pairs.size());
  e.valid = layout.valid();
  e.scores = at::where(e.valid.to(e.scores.device()), e.scores, at::zeros_like(e.scores)).to(at::kCPU);
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

#include "patchbay/patching/ablation.hpp"

#include "ablation_sources.hpp"

#include <algorithm>
#include <map>

#include <ATen/ATen.h>

#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/core/error.hpp"

namespace patchbay {
namespace {

Component parse_component(const std::string& name, const ModelConfig& c, int readout_layer) {
  const auto parsed = parse_component_name(name);
  const bool in_model = parsed && parsed->side == 0 && parsed->layer >= 0 && parsed->layer <= readout_layer &&
                        ((parsed->kind == ComponentKind::Mlp) || (parsed->kind == ComponentKind::Head && parsed->head < c.n_heads) ||
                         (parsed->kind == ComponentKind::Neuron && parsed->neuron < c.d_mlp));
  if (in_model) return *parsed;
  fail<InputError>("unknown component '{}': expected a{{layer}}.h{{head}}, m{{layer}} or m{{layer}}.n{{neuron}} with layer 0..{}, "
                   "head 0..{} and neuron 0..{}", name, readout_layer, c.n_heads - 1, c.d_mlp - 1);
}

// The hooks an ablation replaces: head outputs (hook_z), MLP outputs and, for neurons, hook_post.
std::vector<HookId> ablated_hooks(int L, bool with_neurons) {
  std::vector<HookId> ids;
  for (int l = 0; l <= L; ++l) {
    ids.push_back(hook::z(l));
    ids.push_back(hook::mlp_out(l));
    if (with_neurons) ids.push_back({Site::MlpPost, l});
  }
  return ids;
}

at::Tensor run_ablated(const Model& model, const at::Tensor& clean, std::int64_t target, const Metric& metric,
                       const std::vector<Component>& components, const detail::AblationSources& sources) {
  const int L = metric.layer();
  // Per layer: which heads and neurons to replace, and whether the MLP is replaced.
  std::map<int, std::vector<std::int64_t>> heads, neurons;
  std::map<int, bool> mlps;
  for (const auto& c : components) {
    if (c.kind == ComponentKind::Mlp) mlps[c.layer] = true;
    else if (c.kind == ComponentKind::Neuron) neurons[c.layer].push_back(c.neuron);
    else heads[c.layer].push_back(c.head);
  }
  std::vector<HookHandle> handles;
  // Replaces the chosen entries of `axis` (from the end) of an activation by the source's.
  auto replace_some = [&](HookId id, const std::vector<std::int64_t>& which, std::int64_t size, std::vector<std::int64_t> view) {
    auto mask = at::zeros({size}, at::kBool);
    for (auto i : which) mask[i] = true;
    handles.push_back(model.add_hook(id, [&, mask, id, view](at::Tensor& act, HookId) {
      act = at::where(mask.to(act.device()).view(view), sources.of(id, act), act);
    }));
  };
  for (auto& [layer, hs] : heads) replace_some(hook::z(layer), hs, model.config().n_heads, {1, 1, -1, 1});
  for (auto& [layer, ns] : neurons) replace_some({Site::MlpPost, layer}, ns, model.config().d_mlp, {1, 1, -1});
  for (auto& [layer, on] : mlps) {
    const HookId id = hook::mlp_out(layer);
    handles.push_back(model.add_hook(id, [&, id](at::Tensor& out, HookId) { out = sources.of(id, out); }));
  }
  auto out = model.forward(clean, ForwardOptions().stop_after(L));
  return metric(out.select(1, target));
}

}  // namespace

const char* to_string(AblationKind k) {
  switch (k) {
    case AblationKind::Zero: return "zero";
    case AblationKind::Mean: return "mean";
    case AblationKind::Resample: return "resample";
    case AblationKind::Corrupted: return "corrupted";
  }
  return "?";
}


at::Tensor ablated_metric(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                          const std::vector<std::string>& components, const AblationOptions& o) {
  at::InferenceMode no_grad;
  const auto clean = pair_tokens(pairs, 0), corrupted = pair_tokens(pairs, 1);
  std::vector<Component> parsed;
  for (const auto& name : components) parsed.push_back(parse_component(name, model.config(), metric.layer()));
  const bool neurons = std::any_of(parsed.begin(), parsed.end(), [](const Component& c) { return c.kind == ComponentKind::Neuron; });
  auto sources = detail::ablation_sources(model, clean, corrupted, metric.layer(), o, ablated_hooks(metric.layer(), neurons));
  return run_ablated(model, clean, pairs.front().target, metric, parsed, sources);
}

at::Tensor AblationSweepResult::effect() const {
  return (metric.mean(0) - clean.mean()) / (clean.mean() - corrupted.mean());
}

AblationSweepResult ablation_sweep(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                                   const AblationOptions& o) {
  at::InferenceMode no_grad;
  const auto& c = model.config();
  const int L = metric.layer();
  const auto clean = pair_tokens(pairs, 0), corrupted = pair_tokens(pairs, 1);
  const auto T = pairs.front().target;
  auto sources = detail::ablation_sources(model, clean, corrupted, L, o, ablated_hooks(L, false));
  AblationSweepResult r;
  r.options = o;
  r.clean = run_ablated(model, clean, T, metric, {}, sources);
  r.corrupted = metric(model.forward(corrupted, ForwardOptions().stop_after(L)).select(1, T));
  std::vector<at::Tensor> columns;
  for (int l = 0; l <= L; ++l) {
    for (std::int64_t h = 0; h < c.n_heads; ++h) {
      r.components.push_back(head_name(l, h));
      columns.push_back(run_ablated(model, clean, T, metric, {Component{ComponentKind::Head, l, h}}, sources));
    }
    r.components.push_back(mlp_name(l));
    columns.push_back(run_ablated(model, clean, T, metric, {Component{ComponentKind::Mlp, l}}, sources));
  }
  r.metric = at::stack(columns, 1);
  return r;
}


}  // namespace patchbay

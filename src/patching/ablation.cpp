#include "patchbay/patching/ablation.hpp"

#include "ablation_sources.hpp"
#include "pair_chunks.hpp"

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

// The metric of pairs [first, first + n) (clean tokens [n, pos]) with `components` replaced by
// `values`, the sources' replacements for those pairs.
at::Tensor run_ablated(const Model& model, const at::Tensor& clean, std::int64_t first, std::int64_t target, const Metric& metric,
                       const std::vector<Component>& components, const detail::AblationValues& values) {
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
      act = at::where(mask.to(act.device()).view(view), values.of(id, act), act);
    }));
  };
  for (auto& [layer, hs] : heads) replace_some(hook::z(layer), hs, model.config().n_heads, {1, 1, -1, 1});
  for (auto& [layer, ns] : neurons) replace_some({Site::MlpPost, layer}, ns, model.config().d_mlp, {1, 1, -1});
  for (auto& [layer, on] : mlps) {
    const HookId id = hook::mlp_out(layer);
    handles.push_back(model.add_hook(id, [&, id](at::Tensor& out, HookId) { out = values.of(id, out); }));
  }
  auto out = model.forward(clean, ForwardOptions().stop_after(L));
  const auto pairs = at::arange(first, first + clean.size(0), at::TensorOptions().dtype(at::kLong).device(out.device()));
  return metric(out.select(1, target), pairs);
}

// Pairs per chunk of an ablation: the sources' run and the ablated run of each.
std::int64_t ablation_chunk(const ModelConfig& c, const at::Tensor& clean, int L) {
  return rows_per_pass(2 * forward_activation_bytes(c, clean.size(1), L + 1));
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
  const int L = metric.layer();
  const auto clean = pair_tokens(pairs, 0), corrupted = pair_tokens(pairs, 1);
  std::vector<Component> parsed;
  for (const auto& name : components) parsed.push_back(parse_component(name, model.config(), L));
  const bool neurons = std::any_of(parsed.begin(), parsed.end(), [](const Component& c) { return c.kind == ComponentKind::Neuron; });
  const detail::AblationSources sources(model, clean, corrupted, L, o, ablated_hooks(L, neurons));
  const auto N = clean.size(0), chunk = ablation_chunk(model.config(), clean, L);
  std::vector<at::Tensor> parts;  // each [chunk]
  for_each_row_chunk(N, chunk, [&](std::int64_t i0, std::int64_t n) {
    parts.push_back(run_ablated(model, clean.narrow(0, i0, n), i0, pairs.front().target, metric, parsed, sources.rows(i0, n)));
  });
  return at::cat(parts, 0);
}

at::Tensor AblationSweepResult::effect() const {
  return (metric.mean(0) - clean.mean()) / (clean.mean() - corrupted.mean());
}

namespace {

// Every head and MLP up to the read-out, in the sweep's order.
std::vector<Component> every_component(const ModelConfig& c, int L) {
  std::vector<Component> out;
  for (int l = 0; l <= L; ++l) {
    for (std::int64_t h = 0; h < c.n_heads; ++h) out.push_back(Component{ComponentKind::Head, l, h});
    out.push_back(Component{ComponentKind::Mlp, l});
  }
  return out;
}

}  // namespace

AblationSweepResult ablation_sweep(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                                   const AblationOptions& o) {
  at::InferenceMode no_grad;
  const int L = metric.layer();
  const auto clean = pair_tokens(pairs, 0), corrupted = pair_tokens(pairs, 1);
  const std::int64_t T = pairs.front().target, N = clean.size(0), chunk = ablation_chunk(model.config(), clean, L);
  const detail::AblationSources sources(model, clean, corrupted, L, o, ablated_hooks(L, false));
  const auto components = every_component(model.config(), L);
  AblationSweepResult r;
  r.options = o;
  for (const auto& c : components) r.components.push_back(c.name());
  std::vector<at::Tensor> clean_parts, corrupted_parts, metric_parts;
  for_each_row_chunk(N, chunk, [&](std::int64_t i0, std::int64_t n) {
    const auto tokens = clean.narrow(0, i0, n);
    const auto values = sources.rows(i0, n);
    const auto rows = at::arange(i0, i0 + n, at::kLong);
    clean_parts.push_back(run_ablated(model, tokens, i0, T, metric, {}, values));
    const auto corrupted_out = model.forward(corrupted.narrow(0, i0, n), ForwardOptions().stop_after(L)).select(1, T);
    corrupted_parts.push_back(metric(corrupted_out, rows.to(corrupted_out.device())));
    std::vector<at::Tensor> columns;  // each [n]
    for (const auto& c : components) columns.push_back(run_ablated(model, tokens, i0, T, metric, {c}, values));
    metric_parts.push_back(at::stack(columns, 1));
  });
  r.clean = at::cat(clean_parts, 0);
  r.corrupted = at::cat(corrupted_parts, 0);
  r.metric = at::cat(metric_parts, 0);  // [pair, component]
  return r;
}

}  // namespace patchbay

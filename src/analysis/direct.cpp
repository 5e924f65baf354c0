#include "patchbay/analysis/direct.hpp"

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/model/activation_memory.hpp"

namespace patchbay {


std::int64_t DirectAttribution::index(const std::string& component) const {
  for (std::size_t i = 0; i < components.size(); ++i)
    if (components[i] == component) return static_cast<std::int64_t>(i);
  fail<InputError>("no component '{}' in this attribution", component);
}

namespace {

// direct_attribution of prompts that fit one chunk.
DirectAttribution direct_chunk(const Model& model, const at::Tensor& tokens, std::int64_t target, const ProbeLogitDiff& metric) {
  const auto& c = model.config();
  const int L = metric.layer();
  std::vector<HookId> hooks{hook::embed(), hook::resid_post(L)};
  if (c.positions == PositionKind::Learned) hooks.push_back(hook::pos_embed());
  for (int l = 0; l <= L; ++l) {
    hooks.push_back({Site::Result, l});
    hooks.push_back({Site::MlpPost, l});
  }
  auto [out, cache] = model.run_with_cache(tokens.narrow(1, 0, target + 1), filters::only(hooks),
                                           ForwardOptions().stop_after(L));
  const auto d = metric.direction().to(out.device());  // [d_model]
  auto at_target = [&](HookId id) { return cache.at(id).select(1, target); };  // [prompt, ...]

  DirectAttribution r;
  std::vector<at::Tensor> columns;
  r.components.push_back("embed");
  columns.push_back(at::matmul(at_target(hook::embed()), d));
  if (c.positions == PositionKind::Learned) {
    r.components.push_back("pos_embed");
    columns.push_back(at::matmul(at_target(hook::pos_embed()), d));
  }
  std::vector<at::Tensor> neurons, mlp_bias;
  for (int l = 0; l <= L; ++l) {
    const auto& w = model.weights().layers[static_cast<std::size_t>(l)];
    auto heads = at::matmul(at_target({Site::Result, l}), d);  // [prompt, head]
    for (std::int64_t h = 0; h < c.n_heads; ++h) {
      r.components.push_back(head_name(l, h));
      columns.push_back(heads.select(1, h));
    }
    r.components.push_back(fmt::format("a{}.bias", l));
    columns.push_back(w.b_O.defined() ? at::matmul(w.b_O, d).expand({tokens.size(0)}) : at::zeros({tokens.size(0)}, d.options()));
    // neuron n writes post[n] * W_out[n, :]; its part is post[n] * (W_out[n, :] . d).
    auto per_neuron = at_target({Site::MlpPost, l}) * at::matmul(w.W_out, d);  // [prompt, d_mlp]
    auto bias = w.b_out.defined() ? at::matmul(w.b_out, d) : at::zeros({}, d.options());
    r.components.push_back(mlp_name(l));
    columns.push_back(per_neuron.sum(1) + bias);
    neurons.push_back(per_neuron);
    mlp_bias.push_back(bias);
  }
  r.contributions = at::stack(columns, 1);  // [prompt, component]
  r.neurons = at::stack(neurons, 1);        // [prompt, layer, d_mlp]
  r.mlp_bias = at::stack(mlp_bias);
  r.offset = at::scalar_tensor(metric.offset(), d.options());
  r.total = metric(out.select(1, target));
  return r;
}

}  // namespace

DirectAttribution direct_attribution(const Model& model, const at::Tensor& tokens, std::int64_t target,
                                     const ProbeLogitDiff& metric) {
  if (tokens.dim() != 2 || target < 0 || target >= tokens.size(1))
    fail<InputError>("target position {} is outside prompts of {} tokens", target, tokens.size(1));
  at::InferenceMode no_grad;
  const auto N = tokens.size(0), chunk = rows_per_pass(forward_activation_bytes(model.config(), target + 1, metric.layer() + 1));
  if (N <= chunk) return direct_chunk(model, tokens, target, metric);
  std::vector<DirectAttribution> parts;
  for_each_row_chunk(N, chunk, [&](std::int64_t first, std::int64_t count) { parts.push_back(direct_chunk(model, tokens.narrow(0, first, count), target, metric)); });
  auto joined = [&](at::Tensor DirectAttribution::*field) {
    std::vector<at::Tensor> all;
    for (const auto& p : parts) all.push_back(p.*field);
    return at::cat(all, 0);
  };
  DirectAttribution r = parts.front();
  r.contributions = joined(&DirectAttribution::contributions);
  r.neurons = joined(&DirectAttribution::neurons);
  r.total = joined(&DirectAttribution::total);
  return r;
}

}  // namespace patchbay

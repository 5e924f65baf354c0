// Counting-circuit results in HDF5:
//   /                       attributes: kind, provenance, config, summary
//   /pairs/                 clean, corrupted [pair, pos]; target; labels
//   /patching/NAME/DIRECTION/  metric [pair, layer, (head), (position)], clean, corrupted, effect; attribute axes
//   /attribution/heads_by_position/  metric, effect; attribute correlation_with_patching
//   /direct/{clean,corrupted}/  contributions [prompt, component], components, neurons, total
//   /ablation/KIND/         metric [pair, component], effect, components
//   /heads/                 scores [layer, head, pattern], patterns
//   /direction_ablation/    loss, loss_ablated, loss_random, kl_*, attention_change*
//   /edges/                 scores [sender, receiver], valid, senders, receivers
//   /graph/                 nodes, edges (see CircuitGraph::write); /graph/faithfulness/{edges,nodes,value}
#include <filesystem>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "patchbay/core/provenance.hpp"
#include "patchbay/experiments/counting_circuit.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/report/figures.hpp"
#include "patchbay/report/svg.hpp"

namespace patchbay {
namespace {

std::vector<std::string> numbered(std::int64_t n, const std::string& prefix = "") {
  std::vector<std::string> out;
  for (std::int64_t i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

}  // namespace

std::vector<std::string> write_counting_circuit(const std::string& path, bool overwrite, const Model& model,
                                                const ProbeSource& probe, const CountingCircuitOptions& o,
                                                const CountingCircuitResults& r) {
  const auto& c = model.config();
  H5Writer out(path, overwrite);
  out.write_attribute("kind", "counting_circuit");
  out.write_attribute("provenance", provenance(model).dump());
  out.write_attribute("config", nlohmann::json{{"clean_split", o.pairs.clean_split},
                                               {"corrupted_split", o.pairs.corrupted_split},
                                               {"pairs", o.pairs.n_pairs},
                                               {"prefix", o.pairs.prefix},
                                               {"bos", o.pairs.bos},
                                               {"seed", o.pairs.seed},
                                               {"method", to_string(o.method)},
                                               {"ig_steps", o.ig_steps},
                                               {"top_edges", o.top_edges},
                                               {"probe", probe.path},
                                               {"probe_layer", probe.layer}}
                                        .dump());
  out.write_attribute("summary", r.summary().dump());
  out.write_attribute("model", c.name);
  out.write_attribute("seed", std::to_string(o.pairs.seed));

  out.write_tensor("pairs/clean", pair_tokens(r.pairs, 0));
  out.write_tensor("pairs/corrupted", pair_tokens(r.pairs, 1));
  out.write_tensor("pairs/target", at::scalar_tensor(static_cast<std::int64_t>(r.pairs.front().target), at::kLong));
  out.write_tensor("pairs/labels", at::tensor(std::vector<std::int64_t>{r.to, r.from}, at::kLong));

  for (const auto& p : r.patching) {
    const auto g = fmt::format("patching/{}/{}", p.sweep.short_name(), to_string(p.direction));
    out.write_tensor(g + "/metric", p.metric);
    out.write_tensor(g + "/clean", p.clean);
    out.write_tensor(g + "/corrupted", p.corrupted);
    out.write_tensor(g + "/effect", p.effect());
    out.write_attribute("axes", fmt::format("{}", fmt::join(p.axes, ",")), g);
    out.write_attribute("description", p.sweep.describe(), g);
  }
  out.write_tensor("attribution/heads_by_position/metric", r.attribution.metric);
  out.write_tensor("attribution/heads_by_position/effect", r.attribution.effect());
  out.write_attribute("correlation_with_patching", fmt::format("{:.6f}", r.attribution_correlation), "attribution/heads_by_position");
  out.write_attribute("axes", fmt::format("{}", fmt::join(r.attribution.axes, ",")), "attribution/heads_by_position");

  for (const auto& [name, d] : {std::pair<const char*, const DirectAttribution*>{"clean", &r.direct_clean}, {"corrupted", &r.direct_corrupted}}) {
    const std::string g = std::string("direct/") + name;
    out.write_tensor(g + "/contributions", d->contributions);
    out.write_strings(g + "/components", d->components);
    out.write_tensor(g + "/neurons", d->neurons);
    out.write_tensor(g + "/total", d->total);
    out.write_tensor(g + "/offset", d->offset);
  }
  for (const auto& a : r.ablations) {
    const std::string g = std::string("ablation/") + to_string(a.options.kind);
    out.write_tensor(g + "/metric", a.metric);
    out.write_tensor(g + "/effect", a.effect());
    out.write_strings(g + "/components", a.components);
  }
  out.write_tensor("heads/scores", r.head_scores.scores);
  out.write_strings("heads/patterns", r.head_scores.patterns);
  const auto& da = r.direction_ablation;
  for (const auto& [k, v] : {std::pair{"loss", da.loss}, {"loss_ablated", da.loss_ablated}, {"loss_random", da.loss_random},
                             {"kl_ablated", da.kl_ablated}, {"kl_random", da.kl_random}})
    out.write_tensor(std::string("direction_ablation/") + k, at::scalar_tensor(v, at::kFloat));
  out.write_tensor("direction_ablation/attention_change", at::tensor(da.attention_change, at::kDouble).to(at::kFloat));
  out.write_tensor("direction_ablation/attention_change_random", at::tensor(da.attention_change_random, at::kDouble).to(at::kFloat));
  out.write_tensor("edges/scores", r.edges.scores.to(at::kFloat));
  out.write_tensor("edges/valid", r.edges.valid.to(at::kLong));
  out.write_strings("edges/senders", r.edges.senders);
  out.write_strings("edges/receivers", r.edges.receivers);
  r.graph.write(out, "graph");
  std::vector<std::int64_t> f_edges, f_nodes;
  std::vector<double> f_value;
  for (const auto& p : r.faithfulness) {
    f_edges.push_back(static_cast<std::int64_t>(p.edges));
    f_nodes.push_back(static_cast<std::int64_t>(p.nodes));
    f_value.push_back(p.faithfulness);
  }
  out.write_tensor("graph/faithfulness/edges", at::tensor(f_edges, at::kLong));
  out.write_tensor("graph/faithfulness/nodes", at::tensor(f_nodes, at::kLong));
  out.write_tensor("graph/faithfulness/value", at::tensor(f_value, at::kDouble).to(at::kFloat));

  // Figures beside the HDF5 file.
  std::vector<std::string> written{path};
  auto figure = [&](const std::string& suffix, const std::string& svg) {
    const auto p = companion_path(path, suffix);
    svg::write_file_atomic(p, svg);
    written.push_back(p);
  };
  const auto& heads = r.patching[6];  // heads by (layer, head), clean into corrupted
  figure("_heads.svg", heatmap_svg(heads.effect(), numbered(c.n_layers), numbered(c.n_heads),
                                   "Head patching effect (clean into corrupted)", "layer", "head"));
  std::vector<std::string> tokens;
  for (auto id : r.pairs.front().clean.tokens) tokens.push_back(model.tokenizer().token_text(id));
  for (int s : {0, 1, 2}) {
    const auto& p = r.patching[static_cast<std::size_t>(2 * s)];
    figure(fmt::format("_{}.svg", p.sweep.short_name()),
           heatmap_svg(p.effect(), numbered(c.n_layers), tokens, p.sweep.describe() + " (clean into corrupted)", "layer", "position"));
  }
  // Attention patterns of the heads with the largest patching effect, on the first clean prompt.
  auto effect = heads.effect().abs().flatten();
  auto top = std::get<1>(effect.topk(std::min<std::int64_t>(3, effect.numel())));
  at::InferenceMode no_grad;
  auto tokens_1 = at::tensor(r.pairs.front().clean.tokens, at::kLong).unsqueeze(0);
  std::vector<HookId> pattern_hooks;
  for (int l = 0; l < c.n_layers; ++l) pattern_hooks.push_back(hook::pattern(l));
  auto cache = model.run_with_cache(tokens_1, filters::only(pattern_hooks)).second;
  for (std::int64_t i = 0; i < top.size(0); ++i) {
    const auto flat = top[i].item<std::int64_t>();
    const int l = static_cast<int>(flat / c.n_heads);
    const auto h = flat % c.n_heads;
    figure(fmt::format("_attention_{}.svg", head_name(l, h)),
           attention_svg(cache.at(hook::pattern(l))[0][h], tokens, fmt::format("Attention pattern of {} (clean prompt)", head_name(l, h))));
  }
  figure("_graph.svg", graph_svg(r.graph, fmt::format("Circuit ({}, top {} edges)", r.edges.method, r.graph.kept_edges())));
  const auto dot_path = companion_path(path, "_graph.dot");
  svg::write_file_atomic(dot_path, r.graph.to_dot());
  written.push_back(dot_path);
  if (render_dot(r.graph.to_dot(), companion_path(path, "_graph_dot.svg"))) written.push_back(companion_path(path, "_graph_dot.svg"));
  out.commit();
  return written;
}

}  // namespace patchbay

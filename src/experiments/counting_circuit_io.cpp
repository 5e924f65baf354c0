// Counting-circuit results in HDF5:
//   /                       attributes: kind, provenance, config, summary
//   /pairs/                 clean, corrupted [pair, pos]; target; labels
//   /patching/NAME/DIRECTION/  metric [pair, layer, (head), (position)], clean, corrupted, effect; attribute axes
//   /attribution/heads_by_position/  metric, effect; attribute correlation_with_patching
//   /direct/{clean,corrupted}/  contributions [prompt, component], components, neurons, total
//   /ablation/KIND/         metric [pair, component], effect, components
//   /heads/                 scores [layer, head, pattern], patterns
//   /examples/{clean,corrupted}/  tokens [pos], heads [head], patterns [head, q, k]: attention of the top heads
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
#include "patchbay/report/report.hpp"
#include "patchbay/report/svg.hpp"

namespace patchbay {
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

  for (const auto& e : r.attention_examples) {
    const auto g = "examples/" + e.prompt;
    out.write_strings(g + "/tokens", e.tokens);
    out.write_strings(g + "/heads", e.heads);
    out.write_tensor(g + "/patterns", e.patterns);
  }
  out.commit();
  auto written = write_report(build_report({path}), companion_path(path, "_report.html"), companion_path(path, "_"));
  written.insert(written.begin(), path);
  const auto dot_path = companion_path(path, "_graph.dot");
  svg::write_file_atomic(dot_path, r.graph.to_dot());
  written.push_back(dot_path);
  // GraphViz's own layout too, when `dot` is installed (the report uses the built-in one).
  if (render_dot(r.graph.to_dot(), companion_path(path, "_graph_dot.svg"))) written.push_back(companion_path(path, "_graph_dot.svg"));
  return written;
}

}  // namespace patchbay

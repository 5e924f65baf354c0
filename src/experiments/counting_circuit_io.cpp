// Counting-circuit results in HDF5 (docs/FORMAT.md documents every name):
//   /                       attributes: kind, provenance, config, summary
//   /pairs/                 clean, corrupted [pair, pos]; target; labels
//   /patching/NAME/DIRECTION/  metric [pair, layer, (head), (position)], clean, corrupted, effect (every dataset: axes, description)
//   /attribution/heads_by_position/  metric, effect; attribute correlation_with_patching
//   /direct/{clean,corrupted}/  contributions [prompt, component], components, neurons, total
//   /ablation/KIND/         metric [pair, component], effect, components
//   /heads/                 scores [layer, head, pattern], patterns
//   /examples/{clean,corrupted}/  tokens [pos], heads [head], patterns [head, q, k]: attention of the top heads
//   /direction_ablation/    loss, loss_ablated, loss_random, kl_*, attention_change*
//   /edges/                 scores [sender, receiver], valid, senders, receivers
//   /graph/                 nodes, edges (see CircuitGraph::write); /graph/faithfulness/{edges,nodes,value}
#include <filesystem>
#include <map>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "patchbay/experiments/provenance.hpp"
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
  out.write_attribute("provenance", provenance(model, {probe.path}).dump());
  out.write_attribute("config", counting_circuit_config(o, probe).dump());
  out.write_attribute("summary", r.summary().dump());
  out.write_attribute("model", c.name);
  out.write_attribute("seed", o.pairs.seed);

  const DatasetDoc pair_tokens_doc{{"pair", "position"}, "token ids of each pair's prompt (clean and corrupted have equal lengths)"};
  out.write_tensor("pairs/clean", pair_tokens(r.pairs, 0), pair_tokens_doc);
  out.write_tensor("pairs/corrupted", pair_tokens(r.pairs, 1), pair_tokens_doc);
  out.write_tensor("pairs/target", at::scalar_tensor(static_cast<std::int64_t>(r.pairs.front().target), at::kLong),
                   {{}, "absolute position of the target token read by the metric"});
  out.write_tensor("pairs/labels", at::tensor(std::vector<std::int64_t>{r.to, r.from}, at::kLong),
                   {{"class"}, "probe classes of the metric: (clean word index, corrupted word index)"});

  const std::string normalised = "normalised effect (patched - corrupted) / (clean - corrupted), mean over pairs";
  for (const auto& p : r.patching) {
    const auto g = fmt::format("patching/{}/{}", p.sweep.short_name(), to_string(p.direction));
    const std::vector<std::string> effect_axes(p.axes.begin() + 1, p.axes.end());
    out.write_tensor(g + "/metric", p.metric, {p.axes, "metric of each patched run: " + p.sweep.describe()});
    out.write_tensor(g + "/clean", p.clean, {{"pair"}, "unpatched clean metric of each pair"});
    out.write_tensor(g + "/corrupted", p.corrupted, {{"pair"}, "unpatched corrupted metric of each pair"});
    out.write_tensor(g + "/effect", p.effect(), {effect_axes, normalised});
    out.write_attribute("description", p.sweep.describe(), g);
  }
  {
    const std::string g = "attribution/heads_by_position";
    const std::vector<std::string> effect_axes(r.attribution.axes.begin() + 1, r.attribution.axes.end());
    out.write_tensor(g + "/metric", r.attribution.metric, {r.attribution.axes, "first-order (attribution patching) estimate of each patched metric"});
    out.write_tensor(g + "/effect", r.attribution.effect(), {effect_axes, "attribution-patching estimate of the " + normalised});
    out.write_attribute("correlation_with_patching", r.attribution_correlation, g);
  }

  for (const auto& [name, d] : {std::pair<const char*, const DirectAttribution*>{"clean", &r.direct_clean}, {"corrupted", &r.direct_corrupted}}) {
    const std::string g = std::string("direct/") + name;
    out.write_tensor(g + "/contributions", d->contributions,
                     {{"prompt", "component"}, "each component's output at the target projected on the probe direction (labels: components)"});
    out.write_strings(g + "/components", d->components, {{"component"}, "labels of the component axis"});
    out.write_tensor(g + "/neurons", d->neurons, {{"prompt", "layer", "neuron"}, "each MLP neuron's part of the metric (MLP output biases excluded)"});
    out.write_tensor(g + "/total", d->total, {{"prompt"}, "the metric computed from the residual stream directly"});
    out.write_tensor(g + "/offset", d->offset, {{}, "the probe's constant term in the metric"});
  }
  for (const auto& a : r.ablations) {
    const std::string g = std::string("ablation/") + to_string(a.options.kind);
    out.write_tensor(g + "/metric", a.metric, {{"pair", "component"}, "clean metric with that one component ablated"});
    out.write_tensor(g + "/effect", a.effect(), {{"component"}, "normalised effect of ablating each component, mean over pairs"});
    out.write_strings(g + "/components", a.components, {{"component"}, "labels of the component axis"});
  }
  out.write_tensor("heads/scores", r.head_scores.scores,
                   {{"layer", "head", "pattern"}, "mean attention of each head to each pattern's positions (labels: heads/patterns); NaN where a pattern never applies"});
  out.write_strings("heads/patterns", r.head_scores.patterns, {{"pattern"}, "labels of the pattern axis of heads/scores"});
  const auto& da = r.direction_ablation;
  const std::pair<const char*, double> scalars[] = {{"loss", da.loss}, {"loss_ablated", da.loss_ablated}, {"loss_random", da.loss_random},
                                                    {"kl_ablated", da.kl_ablated}, {"kl_random", da.kl_random}};
  const std::map<std::string, const char*> what = {
      {"loss", "next-token loss on general text"}, {"loss_ablated", "loss with the probe directions projected out"},
      {"loss_random", "loss with a random subspace of the same size projected out"},
      {"kl_ablated", "KL(original || directions ablated) of next-token distributions"},
      {"kl_random", "KL(original || random subspace ablated)"}};
  for (const auto& [k, v] : scalars)
    out.write_tensor(std::string("direction_ablation/") + k, at::scalar_tensor(v, at::kFloat), {{}, what.at(k), "nats"});
  out.write_tensor("direction_ablation/attention_change", at::tensor(da.attention_change, at::kDouble).to(at::kFloat),
                   {{"layer"}, "mean absolute change of attention patterns with the probe directions projected out"});
  out.write_tensor("direction_ablation/attention_change_random", at::tensor(da.attention_change_random, at::kDouble).to(at::kFloat),
                   {{"layer"}, "the same with a random subspace projected out"});
  out.write_tensor("edges/scores", r.edges.scores.to(at::kFloat),
                   {{"sender", "receiver"}, "edge scores (labels: edges/senders, edges/receivers); 0 where there is no edge"});
  out.write_tensor("edges/valid", r.edges.valid.to(at::kLong), {{"sender", "receiver"}, "1 where the sender is upstream of the receiver"});
  out.write_strings("edges/senders", r.edges.senders, {{"sender"}, "labels of the sender axis"});
  out.write_strings("edges/receivers", r.edges.receivers, {{"receiver"}, "labels of the receiver axis (keys and values per query head)"});
  r.graph.write(out, "graph");
  std::vector<std::int64_t> f_edges, f_nodes;
  std::vector<double> f_value;
  for (const auto& p : r.faithfulness) {
    f_edges.push_back(static_cast<std::int64_t>(p.edges));
    f_nodes.push_back(static_cast<std::int64_t>(p.nodes));
    f_value.push_back(p.faithfulness);
  }
  out.write_tensor("graph/faithfulness/edges", at::tensor(f_edges, at::kLong), {{"size"}, "kept edges of each circuit size"});
  out.write_tensor("graph/faithfulness/nodes", at::tensor(f_nodes, at::kLong), {{"size"}, "kept nodes of each circuit size"});
  out.write_tensor("graph/faithfulness/value", at::tensor(f_value, at::kDouble).to(at::kFloat),
                   {{"size"}, "faithfulness: (circuit - ablated) / (clean - ablated) with everything outside the circuit mean-ablated"});

  for (const auto& e : r.attention_examples) {
    const auto g = "examples/" + e.prompt;
    out.write_strings(g + "/tokens", e.tokens, {{"position"}, "the prompt's tokens as text"});
    out.write_strings(g + "/heads", e.heads, {{"head"}, "labels of the head axis of patterns"});
    out.write_tensor(g + "/patterns", e.patterns, {{"head", "q_pos", "k_pos"}, "attention probabilities of the heads", "probability"});
  }
  out.commit();
  auto written = write_report(build_report({path}), companion_path(path, "_report.html"), companion_path(path, "_"));
  written.insert(written.begin(), path);
  const auto dot_path = companion_path(path, "_graph.dot");
  write_file_atomic(dot_path, r.graph.to_dot());
  written.push_back(dot_path);
  // GraphViz's own layout too, when `dot` is installed (the report uses the built-in one).
  if (render_dot(r.graph.to_dot(), companion_path(path, "_graph_dot.svg"))) written.push_back(companion_path(path, "_graph_dot.svg"));
  return written;
}

}  // namespace patchbay

// A patching study in a result file and its summary (docs/FORMAT.md, kind "patching"). The
// groups are the section writers' and readers' of patching/patch_io.hpp, the graph's and the
// faithfulness curve's: one writer and one reader each, shared with the counting circuit.
#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/experiments/patching_study.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/experiments/result_file.hpp"

namespace patchbay {
namespace {

// The k components of largest |effect|: [{"component", "effect"}].
nlohmann::json top_components(const at::Tensor& effect, const std::vector<std::string>& names, std::size_t k) {
  std::vector<std::pair<double, std::string>> v;
  const auto values = effect.to(at::kCPU, at::kDouble).contiguous();
  for (std::size_t i = 0; i < names.size(); ++i) v.emplace_back(values[static_cast<std::int64_t>(i)].item<double>(), names[i]);
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return std::abs(a.first) > std::abs(b.first); });
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < std::min(k, v.size()); ++i) out.push_back({{"component", v[i].second}, {"effect", v[i].first}});
  return out;
}

nlohmann::json top_heads(const PatchResult& heads) {
  const auto effect = heads.effect();  // [layer, head]
  std::vector<std::string> names;
  for (std::int64_t l = 0; l < effect.size(0); ++l)
    for (std::int64_t h = 0; h < effect.size(1); ++h) names.push_back(head_name(static_cast<int>(l), h));
  return top_components(effect.flatten(), names, 10);
}

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

// One object per method: what it kept, its faithfulness, CPR and CMD per ablation, AUCs, time.
nlohmann::json comparison_summary(const MethodComparison& c) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : c.rows) {
    nlohmann::json faithfulness, cpr, cmd;
    for (std::size_t a = 0; a < c.ablations.size(); ++a) {
      faithfulness[c.ablations[a]] = number_or_null(row.faithfulness[a]);
      cpr[c.ablations[a]] = number_or_null(row.cpr[a]);
      cmd[c.ablations[a]] = number_or_null(row.cmd[a]);
    }
    rows.push_back({{"method", row.method}, {"edges", row.edges}, {"nodes", row.nodes}, {"faithfulness", faithfulness}, {"cpr", cpr},
                    {"cmd", cmd}, {"node_roc_auc", number_or_null(row.node_roc_auc)}, {"edge_roc_auc", number_or_null(row.edge_roc_auc)},
                    {"seconds", row.seconds}});
  }
  return rows;
}

nlohmann::json graph_summary(const PatchingStudyResults& r) {
  nlohmann::json curve = nlohmann::json::array(), edges = nlohmann::json::array();
  const auto& f = r.faithfulness;
  for (const auto& p : f.points) {
    nlohmann::json by_ablation;
    for (std::size_t a = 0; a < f.ablations.size(); ++a) by_ablation[f.ablations[a]] = p.value[a];
    curve.push_back({{"fraction", p.fraction}, {"edges", p.edges}, {"nodes", p.nodes}, {"graph_size", p.graph_size}, {"faithfulness", by_ablation}});
  }
  nlohmann::json areas, warnings = nlohmann::json::object();
  for (std::size_t a = 0; a < f.ablations.size(); ++a) {
    areas[f.ablations[a]] = {{"cpr", f.areas[a].cpr}, {"cmd", f.areas[a].cmd}};
    if (!f.warnings[a].empty()) warnings[f.ablations[a]] = f.warnings[a];
  }
  for (const auto& [from, to, score] : r.graph.top_edges(10, true)) edges.push_back({{"from", from}, {"to", to}, {"score", score}});
  return {{"method", r.edges.method},
          {"circuit", {{"nodes", r.graph.kept_nodes()}, {"edges", r.graph.kept_edges()}, {"components", r.graph.kept_components()}}},
          {"top_edges", edges},
          {"faithfulness", curve},
          {"faithfulness_areas", areas},
          {"faithfulness_warnings", warnings},
          {"node_roc_auc", r.ground_truth ? number_or_null(r.ground_truth->node_roc_auc) : nlohmann::json(nullptr)},
          {"edge_roc_auc", r.ground_truth ? number_or_null(r.ground_truth->edge_roc_auc) : nlohmann::json(nullptr)},
          {"comparison", comparison_summary(r.comparison)}};
}

}  // namespace

nlohmann::json PatchingStudyResults::summary() const {
  const auto& m = metric;
  nlohmann::json j{{"experiment", "patching"},
                   {"pairs", pairs.size()},
                   {"metric", has_graph() ? graph.info().metric : fmt::format("{}, target position {}", m.description, pairs.front().target)},
                   {"metric_name", m.name},
                   {"clean_metric", m.separation.clean},
                   {"corrupted_metric", m.separation.corrupted},
                   {"metric_separated", m.separation.separated},
                   {"metric_warning", m.separation.warning}};
  for (const auto& p : patching)
    if (p.sweep == PatchSweep::heads() && p.direction == PatchDirection::CleanIntoCorrupted) j["top_heads_patching"] = top_heads(p);
  for (const auto& a : ablations)
    if (a.options.kind == AblationKind::Mean) j["top_components_mean_ablation"] = top_components(a.effect(), a.components, 10);
  j["attribution"] = nlohmann::json::array();
  for (const auto& a : attributions) {
    j["attribution"].push_back({{"sweep", a.estimate.sweep.short_name()}, {"correlation_with_patching", a.correlation_with_patching}});
    if (a.estimate.sweep == PatchSweep::heads_by_position() || !j.contains("attribution_vs_patching_correlation"))
      j["attribution_vs_patching_correlation"] = a.correlation_with_patching;
  }
  if (has_graph()) j.update(graph_summary(*this));
  return j;
}

void write_patching_study(H5Writer& out, const PatchingStudyResults& r) {
  write_pairs(out, r.pairs);
  write_metric_info(out, r.metric);
  write_patch_results(out, r.patching);
  for (const auto& a : r.attributions) write_attribution(out, a);
  write_ablations(out, r.ablations);
  if (!r.has_graph()) return;
  write_edge_scores(out, r.edges);
  r.graph.write(out, "graph");
  r.edges.spans.write(out, "graph");  // position-aware graphs: graph/spans
  if (r.edges.positional()) out.write_attribute("span_aggregation", r.edges.aggregation.empty() ? "exact" : r.edges.aggregation, "graph");
  write_faithfulness(out, r.faithfulness);
  if (r.ground_truth) write_ground_truth_auc(out, *r.ground_truth);
  if (!r.comparison.empty()) write_method_comparison(out, r.comparison);
}

PatchingStudyResults read_patching_study(const H5Reader& in) {
  PatchingStudyResults r;
  r.pairs = read_pairs(in);
  r.metric = read_metric_info(in);
  r.patching = read_patch_results(in);
  r.attributions = read_attributions(in);
  r.ablations = read_ablations(in);
  r.edges = read_edge_scores(in);
  if (in.has("graph/nodes/name")) {
    r.graph = CircuitGraph::read(in, "graph");
    r.edges.spans = SpanSchema::read(in, "graph");
    const auto aggregation = in.attribute("span_aggregation", "graph").value_or("");
    r.edges.aggregation = aggregation == "exact" ? "" : aggregation;
  }
  r.faithfulness = read_faithfulness(in);
  r.ground_truth = read_ground_truth_auc(in);
  r.comparison = read_method_comparison(in);
  return r;
}

std::vector<std::string> write_patching_results(const std::string& path, bool overwrite, const Model& model, const nlohmann::json& config,
                                                const std::vector<std::string>& inputs, const PatchingStudyResults& r) {
  H5Writer out(path, overwrite);
  write_result_header(out, model, {"patching", provenance(model, inputs), config, r.summary()});
  write_patching_study(out, r);
  return commit_with_report(out, path);
}

}  // namespace patchbay

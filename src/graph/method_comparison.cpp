#include "patchbay/graph/method_comparison.hpp"

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {

MethodComparisonRow comparison_row(const std::string& method, const CircuitGraph& graph, const Faithfulness& f,
                                   const std::optional<GroundTruthAuc>& auc, double seconds) {
  MethodComparisonRow row{.method = method, .edges = graph.kept_edges(), .nodes = graph.kept_nodes(), .seconds = seconds};
  for (const auto& p : f.points)
    if (p.graph_size) row.faithfulness = p.value;
  if (row.faithfulness.empty()) row.faithfulness.assign(f.ablations.size(), NAN);
  for (const auto& a : f.areas) {
    row.cpr.push_back(a.cpr);
    row.cmd.push_back(a.cmd);
  }
  if (auc) {
    row.node_roc_auc = auc->node_roc_auc;
    row.edge_roc_auc = auc->edge_roc_auc;
  }
  return row;
}

namespace {
constexpr const char* kGroup = "comparison/";
std::string path(const char* name) { return std::string(kGroup) + name; }

// [method, ablation] of one per-ablation field of every row.
at::Tensor per_ablation(const MethodComparison& c, std::vector<double> MethodComparisonRow::*field) {
  std::vector<double> values;
  for (const auto& row : c.rows) values.insert(values.end(), (row.*field).begin(), (row.*field).end());
  return at::tensor(values, at::kDouble).view({static_cast<std::int64_t>(c.rows.size()), static_cast<std::int64_t>(c.ablations.size())});
}

void read_per_ablation(const H5Reader& in, const char* name, MethodComparison& c, std::vector<double> MethodComparisonRow::*field) {
  const auto t = in.read_tensor_of_rank(path(name), 2).to(at::kDouble).contiguous();
  if (t.size(0) != static_cast<std::int64_t>(c.rows.size()) || t.size(1) != static_cast<std::int64_t>(c.ablations.size()))
    fail<FormatError>("'{}': comparison/{} is {} for {} methods and {} ablations", in.path(), name, t.sizes(), c.rows.size(), c.ablations.size());
  for (std::size_t m = 0; m < c.rows.size(); ++m)
    for (std::size_t a = 0; a < c.ablations.size(); ++a)
      (c.rows[m].*field).push_back(t[static_cast<std::int64_t>(m)][static_cast<std::int64_t>(a)].item<double>());
}
}  // namespace

void write_method_comparison(H5Writer& out, const MethodComparison& c) {
  std::vector<std::string> methods;
  std::vector<std::int64_t> edges, nodes;
  std::vector<double> node_auc, edge_auc, seconds;
  for (const auto& row : c.rows) {
    methods.push_back(row.method);
    edges.push_back(static_cast<std::int64_t>(row.edges));
    nodes.push_back(static_cast<std::int64_t>(row.nodes));
    node_auc.push_back(row.node_roc_auc);
    edge_auc.push_back(row.edge_roc_auc);
    seconds.push_back(row.seconds);
  }
  out.write_strings(path("method"), methods, {{"method"}, "edge-scoring method: path (exact path patching), eap, eap-ig"});
  out.write_strings(path("ablation"), c.ablations, {{"ablation"}, "how everything outside the circuit is ablated"});
  out.write_int64s(path("edges"), edges, {{"method"}, "edges kept in the method's circuit"});
  out.write_int64s(path("nodes"), nodes, {{"method"}, "nodes kept in the method's circuit"});
  out.write_tensor(path("faithfulness"), per_ablation(c, &MethodComparisonRow::faithfulness),
                   {{"method", "ablation"}, "faithfulness of the method's circuit at its own size"});
  out.write_tensor(path("cpr"), per_ablation(c, &MethodComparisonRow::cpr), {{"method", "ablation"}, "CPR of the method's faithfulness curve"});
  out.write_tensor(path("cmd"), per_ablation(c, &MethodComparisonRow::cmd), {{"method", "ablation"}, "CMD of the method's faithfulness curve"});
  out.write_doubles(path("node_roc_auc"), node_auc, {{"method"}, "node ROC AUC against the ground truth (NaN without one)"});
  out.write_doubles(path("edge_roc_auc"), edge_auc, {{"method"}, "edge ROC AUC against the ground truth (NaN without one)"});
  out.write_doubles(path("seconds"), seconds, {{"method"}, "time to score the edges, prune and evaluate the circuit", "s"});
}

MethodComparison read_method_comparison(const H5Reader& in) {
  MethodComparison c;
  if (!in.has(path("method"))) return c;
  const auto methods = in.read_strings(path("method"));
  c.ablations = in.read_strings(path("ablation"));
  const auto edges = in.read_int64s(path("edges")), nodes = in.read_int64s(path("nodes"));
  const auto node_auc = in.read_doubles(path("node_roc_auc")), edge_auc = in.read_doubles(path("edge_roc_auc")),
             seconds = in.read_doubles(path("seconds"));
  const auto M = methods.size();
  if (edges.size() != M || nodes.size() != M || node_auc.size() != M || edge_auc.size() != M || seconds.size() != M)
    fail<FormatError>("'{}': the comparison/ columns do not all have {} methods", in.path(), M);
  for (std::size_t m = 0; m < M; ++m) {
    if (edges[m] < 0 || nodes[m] < 0) fail<FormatError>("'{}': comparison/ has a negative size", in.path());
    c.rows.push_back({.method = methods[m], .edges = static_cast<std::size_t>(edges[m]), .nodes = static_cast<std::size_t>(nodes[m]),
                      .node_roc_auc = node_auc[m], .edge_roc_auc = edge_auc[m], .seconds = seconds[m]});
  }
  read_per_ablation(in, "faithfulness", c, &MethodComparisonRow::faithfulness);
  read_per_ablation(in, "cpr", c, &MethodComparisonRow::cpr);
  read_per_ablation(in, "cmd", c, &MethodComparisonRow::cmd);
  return c;
}

}  // namespace patchbay

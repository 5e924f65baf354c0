#include "patchbay/graph/ground_truth.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "patchbay/core/error.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/patching/edge_layout.hpp"

namespace patchbay {
namespace {

std::vector<std::string> string_list(const nlohmann::json& j, const char* key, const std::string& source) {
  if (!j.contains(key)) return {};
  if (!j[key].is_array()) fail<InputError>("'{}': \"{}\" must be a list of names, got {}", source, key, j[key].type_name());
  std::vector<std::string> out;
  for (const auto& v : j[key]) {
    if (!v.is_string()) fail<InputError>("'{}': \"{}\" must hold names (strings), got {}", source, key, v.type_name());
    out.push_back(v.get<std::string>());
  }
  return out;
}

// "logits" is EAP-IG's name for the read-out.
std::string canonical_edge(const std::string& edge) {
  const auto arrow = edge.find("->");
  if (arrow == std::string::npos) return edge;
  auto receiver = edge.substr(arrow + 2);
  if (receiver == "logits") receiver = "readout";
  return edge.substr(0, arrow) + "->" + receiver;
}

}  // namespace

GroundTruth GroundTruth::parse(const std::string& text, std::string source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail<InputError>("'{}' is not valid JSON: {}", source, e.what());
  }
  if (!j.is_object()) fail<InputError>("'{}': expected {{\"nodes\": [...], \"edges\": [...]}}, got {}", source, j.type_name());
  for (const auto& [key, value] : j.items())
    if (key != "nodes" && key != "edges") fail<InputError>("'{}': unknown key \"{}\": expected \"nodes\" and \"edges\"", source, key);
  GroundTruth t{source, string_list(j, "nodes", source), string_list(j, "edges", source)};
  for (auto& e : t.edges) e = canonical_edge(e);
  if (t.nodes.empty() && t.edges.empty()) fail<InputError>("'{}' names no node and no edge of the circuit", source);
  return t;
}

GroundTruth GroundTruth::read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail<InputError>("cannot read the ground truth '{}'", path);
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

void GroundTruth::check_against(const EdgeLayout& layout) const {
  auto sender = [&](const std::string& name) -> const EdgeSender* {
    for (const auto& s : layout.senders)
      if (s.name == name) return &s;
    return nullptr;
  };
  for (const auto& n : nodes) {
    const auto* s = sender(n);
    if (!s || s->layer < 0)
      fail<InputError>("'{}': node '{}' is not a head or MLP up to the read-out layer {} (names like a0.h1, m2)", source, n, layout.receivers.back().layer - 1);
  }
  for (const auto& e : edges) {
    const auto arrow = e.find("->");
    const auto* s = arrow == std::string::npos ? nullptr : sender(e.substr(0, arrow));
    const EdgeReceiver* r = nullptr;
    if (arrow != std::string::npos)
      for (const auto& candidate : layout.receivers)
        if (candidate.name == e.substr(arrow + 2)) r = &candidate;
    if (!s || !r || !EdgeLayout::upstream(*s, *r))
      fail<InputError>("'{}': '{}' is not an edge of the model up to its read-out (expected SENDER->RECEIVER, e.g. input->a0.h0<k>, a0.h0->m1, m1->logits)", source, e);
  }
}

double roc_auc(const std::vector<double>& scores, const std::vector<bool>& positive) {
  if (scores.size() != positive.size()) fail<InputError>("ROC AUC needs one label per score, got {} and {}", scores.size(), positive.size());
  const auto n_pos = static_cast<double>(std::count(positive.begin(), positive.end(), true));
  const auto n_neg = static_cast<double>(positive.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) fail<InputError>("ROC AUC needs at least one item in the circuit and one outside it, got {} and {}", n_pos, n_neg);
  // Mid-ranks (ties share the mean of their ranks), then the positives' rank sum.
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double positive_ranks = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mid_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (std::size_t k = i; k < j; ++k)
      if (positive[order[k]]) positive_ranks += mid_rank;
    i = j;
  }
  return (positive_ranks - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

GroundTruthAuc ground_truth_auc(const CircuitGraph& graph, const GroundTruth& truth) {
  const auto& g = graph.graph();
  std::set<std::string> true_nodes(truth.nodes.begin(), truth.nodes.end()), true_edges(truth.edges.begin(), truth.edges.end());
  std::vector<double> node_scores, edge_scores;
  std::vector<bool> node_in, edge_in;
  for (auto v : boost::make_iterator_range(boost::vertices(g))) {
    if (g[v].kind != NodeKind::Head && g[v].kind != NodeKind::Mlp) continue;
    node_scores.push_back(g[v].score);
    node_in.push_back(true_nodes.erase(g[v].name) > 0);
  }
  for (const auto& [from, to, score] : graph.top_edges(graph.num_edges())) {
    edge_scores.push_back(std::abs(score));
    edge_in.push_back(true_edges.erase(from + "->" + to) > 0);
  }
  if (!true_nodes.empty()) fail<InputError>("'{}': node '{}' is not a head or MLP of the graph", truth.source, *true_nodes.begin());
  if (!true_edges.empty()) fail<InputError>("'{}': edge '{}' is not an edge of the graph", truth.source, *true_edges.begin());
  GroundTruthAuc out;
  out.ground_truth = truth.source;
  out.node_roc_auc = truth.nodes.empty() ? NAN : roc_auc(node_scores, node_in);
  out.edge_roc_auc = truth.edges.empty() ? NAN : roc_auc(edge_scores, edge_in);
  return out;
}

void write_ground_truth_auc(H5Writer& out, const GroundTruthAuc& auc) {
  out.write_attribute("ground_truth", auc.ground_truth, "graph");
  out.write_attribute("node_roc_auc", auc.node_roc_auc, "graph");
  out.write_attribute("edge_roc_auc", auc.edge_roc_auc, "graph");
}

std::optional<GroundTruthAuc> read_ground_truth_auc(const H5Reader& in) {
  if (!in.has("graph/nodes/name")) return std::nullopt;
  const auto nodes = in.numeric_attribute("node_roc_auc", "graph"), edges = in.numeric_attribute("edge_roc_auc", "graph");
  if (!nodes || !edges) return std::nullopt;
  return GroundTruthAuc{in.attribute("ground_truth", "graph").value_or(""), *nodes, *edges};
}

}  // namespace patchbay

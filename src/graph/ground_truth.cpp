#include "patchbay/graph/ground_truth.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/ranges.h>
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

namespace {
// The component of a ground-truth name and its span's index (-1: a whole name), or nullopt
// when the span is not one of `spans`.
std::optional<std::pair<std::string, std::int64_t>> component_and_span(std::string_view name, const SpanSchema& spans) {
  const auto [component, span] = split_span(name);
  if (span.empty()) return std::pair{std::string(component), std::int64_t{-1}};
  const auto it = std::find(spans.names.begin(), spans.names.end(), span);
  if (it == spans.names.end()) return std::nullopt;
  return std::pair{std::string(component), static_cast<std::int64_t>(it - spans.names.begin())};
}
}  // namespace

void GroundTruth::check_against(const EdgeLayout& layout, const SpanSchema& spans) const {
  auto sender = [&](const std::string& name) -> const EdgeSender* {
    for (const auto& s : layout.senders)
      if (s.name == name) return &s;
    return nullptr;
  };
  const auto span_list = spans.empty() ? std::string("none: the graph has whole components") : fmt::format("{}", fmt::join(spans.names, ", "));
  for (const auto& n : nodes) {
    const auto parsed = component_and_span(n, spans);
    const auto* s = parsed ? sender(parsed->first) : nullptr;
    if (!s || s->layer < 0)
      fail<InputError>("'{}': node '{}' is not a head or MLP up to the read-out layer {} (names like a0.h1, m2; at a span a0.h1@SPAN, spans: {})",
                       source, n, layout.receivers.back().layer - 1, span_list);
  }
  for (const auto& e : edges) {
    const auto arrow = e.find("->");
    const auto from = arrow == std::string::npos ? std::nullopt : component_and_span(e.substr(0, arrow), spans);
    const auto to = arrow == std::string::npos ? std::nullopt : component_and_span(e.substr(arrow + 2), spans);
    const auto* s = from ? sender(from->first) : nullptr;
    const EdgeReceiver* r = nullptr;
    if (to)
      for (const auto& candidate : layout.receivers)
        if (candidate.name == to->first) r = &candidate;
    // Whole edges name no span; by span both ends do, but the read-out (at the target's span, the last).
    bool spans_ok = false;
    if (r && from) {
      const bool readout = r->side == ReceiverSide::Readout;
      if (from->second < 0) {
        spans_ok = to->second < 0;
      } else if (readout ? to->second < 0 : to->second >= 0) {
        const auto b = readout ? spans.size() - 1 : to->second;
        spans_ok = reads_other_positions(r->side) ? from->second <= b : from->second == b;
      }
    }
    if (!s || !r || !EdgeLayout::upstream(*s, *r) || !spans_ok)
      fail<InputError>("'{}': '{}' is not an edge of the model up to its read-out (expected SENDER->RECEIVER, e.g. input->a0.h0<k>, a0.h0->m1, "
                       "m1->logits; by span input@s0->a0.h0<k>@s1, within a span or into keys and values from an earlier one; spans: {})",
                       source, e, span_list);
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

namespace {
bool names_spans(const std::string& name) {
  const auto arrow = name.find("->");
  if (arrow == std::string::npos) return !split_span(name).second.empty();
  return !split_span(name.substr(0, arrow)).second.empty() || !split_span(name.substr(arrow + 2)).second.empty();
}

// Scores by name, summed over a key: the item's own name, or its whole component's.
struct KeyedScores {
  std::map<std::string, double> score;
  void add(const std::string& key, double value) { score[key] += value; }
};
}  // namespace

GroundTruthAuc ground_truth_auc(const CircuitGraph& graph, const GroundTruth& truth) {
  const auto& g = graph.graph();
  bool positional = false;
  for (auto v : boost::make_iterator_range(boost::vertices(g))) positional = positional || !g[v].span.empty();
  // A truth naming whole components, on a position-aware graph: each component scores the sum over its spans.
  std::size_t by_span = 0;
  for (const auto* names : {&truth.nodes, &truth.edges})
    for (const auto& n : *names) by_span += names_spans(n);
  if (by_span != 0 && by_span != truth.nodes.size() + truth.edges.size())
    fail<InputError>("'{}' names some items by span and some as whole components: name all by span or none", truth.source);
  const bool whole = positional && by_span == 0;
  auto key = [&](const std::string& name) { return whole ? std::string(split_span(name).first) : name; };
  KeyedScores nodes, edges;
  for (auto v : boost::make_iterator_range(boost::vertices(g)))
    if (g[v].kind == NodeKind::Head || g[v].kind == NodeKind::Mlp) nodes.add(key(g[v].name), g[v].score);
  for (const auto& [from, to, score] : graph.top_edges(graph.num_edges())) edges.add(key(from) + "->" + key(to), std::abs(score));
  auto labelled = [&](const KeyedScores& items, const std::vector<std::string>& truth_names, const char* what, const char* kind) {
    std::set<std::string> positives(truth_names.begin(), truth_names.end());
    for (const auto& name : positives)
      if (!items.score.count(name)) fail<InputError>("'{}': {} '{}' is not {} of the graph", truth.source, what, name, kind);
    std::vector<double> scores;
    std::vector<bool> in;
    for (const auto& [name, score] : items.score) {
      scores.push_back(score);
      in.push_back(positives.count(name) > 0);
    }
    return truth_names.empty() ? NAN : roc_auc(scores, in);
  };
  GroundTruthAuc out;
  out.ground_truth = truth.source;
  out.node_roc_auc = labelled(nodes, truth.nodes, "node", "a head or MLP");
  out.edge_roc_auc = labelled(edges, truth.edges, "edge", "an edge");
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

#include "patchbay/graph/circuit_graph.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <queue>

#include "patchbay/core/error.hpp"

namespace patchbay {

const char* to_string(NodeKind kind) {
  switch (kind) {
    case NodeKind::Input: return "input";
    case NodeKind::Head: return "head";
    case NodeKind::Mlp: return "mlp";
    case NodeKind::Neuron: return "neuron";
    case NodeKind::Readout: return "readout";
  }
  return "?";
}

NodeKind parse_node_kind(const std::string& s) {
  for (auto k : {NodeKind::Input, NodeKind::Head, NodeKind::Mlp, NodeKind::Neuron, NodeKind::Readout})
    if (s == to_string(k)) return k;
  fail<InputError>("unknown node kind '{}' (expected input, head, mlp, neuron or readout)", s);
}

namespace {

// "a3.h5<q>" -> ("a3.h5", "q"); "m2" -> ("m2", ""); "a3.h5<k>@w2" -> ("a3.h5@w2", "k").
std::pair<std::string, std::string> split_receiver(const std::string& r) {
  const auto [component, span] = split_span(r);
  const auto lt = component.find('<');
  if (lt == std::string_view::npos) return {r, ""};
  const auto node = std::string(component.substr(0, lt));
  return {span.empty() ? node : at_span(node, span), std::string(component.substr(lt + 1, component.size() - lt - 2))};
}

CircuitNode node_from_name(const std::string& name, int readout_layer) {
  const auto [component, span] = split_span(name);
  const auto parsed = parse_component_name(component);
  if (!parsed || parsed->side != 0 || (!span.empty() && (!is_span_name(span) || parsed->kind == NodeKind::Readout)))
    fail<InputError>("'{}' is not a component name (input, a{{l}}.h{{h}}, m{{l}}, readout; at a span: a{{l}}.h{{h}}@SPAN)", name);
  CircuitNode n;
  n.name = name;
  n.span = std::string(span);
  n.kind = parsed->kind;
  n.layer = parsed->kind == NodeKind::Readout ? readout_layer : parsed->layer;
  n.head = static_cast<int>(parsed->head);
  return n;
}
}  // namespace

std::string receiver_name(const CircuitNode& target, const std::string& qkv) {
  if (qkv.empty()) return target.name;
  const auto component = std::string(split_span(target.name).first) + "<" + qkv + ">";
  return target.span.empty() ? component : at_span(component, target.span);
}

CircuitGraph CircuitGraph::from_edge_scores(const EdgeScores& s, GraphInfo info) {
  CircuitGraph cg;
  cg.info_ = std::move(info);
  cg.info_.readout_layer = s.readout_layer;
  // Unset depth / kv heads: a graph as deep as its read-out, without grouped-query attention.
  if (cg.info_.model_layers <= s.readout_layer) cg.info_.model_layers = s.readout_layer + 1;
  if (cg.info_.n_kv_heads <= 0) cg.info_.n_kv_heads = cg.info_.n_heads;
  std::map<std::string, Vertex> by_name;
  auto vertex_for = [&](const std::string& name) {
    auto it = by_name.find(name);
    if (it != by_name.end()) return it->second;
    auto v = boost::add_vertex(node_from_name(name, s.readout_layer), cg.g_);
    by_name[name] = v;
    return v;
  };
  // Vertices in forward order: senders first (input, a0.*, m0, a1.*, ...), then the read-out.
  for (const auto& name : s.senders) vertex_for(name);
  vertex_for("readout");
  auto scores = s.scores.to(at::kCPU, at::kDouble).contiguous();
  auto valid = s.valid.to(at::kCPU).contiguous();
  auto sa = scores.accessor<double, 2>();
  auto va = valid.accessor<bool, 2>();
  for (std::size_t i = 0; i < s.senders.size(); ++i)
    for (std::size_t j = 0; j < s.receivers.size(); ++j) {
      if (!va[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)]) continue;
      auto [target, qkv] = split_receiver(s.receivers[j]);
      CircuitEdge e{qkv, sa[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)], true};
      boost::add_edge(vertex_for(s.senders[i]), vertex_for(target), e, cg.g_);
    }
  for (auto v : boost::make_iterator_range(boost::vertices(cg.g_))) {
    double total = 0;
    for (auto e : boost::make_iterator_range(boost::out_edges(v, cg.g_))) total += std::abs(cg.g_[e].score);
    for (auto e : boost::make_iterator_range(boost::in_edges(v, cg.g_))) total += std::abs(cg.g_[e].score);
    cg.g_[v].score = total;
  }
  return cg;
}

std::size_t CircuitGraph::kept_nodes() const {
  std::size_t n = 0;
  for (auto v : boost::make_iterator_range(boost::vertices(g_))) n += g_[v].kept;
  return n;
}

std::size_t CircuitGraph::kept_edges() const {
  std::size_t n = 0;
  for (auto e : boost::make_iterator_range(boost::edges(g_))) n += g_[e].kept;
  return n;
}

CircuitGraph::Vertex CircuitGraph::vertex(const std::string& name) const {
  std::string names;
  for (auto v : boost::make_iterator_range(boost::vertices(g_))) {
    if (g_[v].name == name) return v;
    names += (names.empty() ? "" : ", ") + g_[v].name;
  }
  fail<InputError>("no component '{}' in the graph (it has: {})", name, names);
}

std::size_t CircuitGraph::close_circuit() {
  // Vertices are in forward order: one forward sweep marks those reachable from the input over
  // kept edges, one backward sweep those that reach the read-out; kept = both.
  const auto n = boost::num_vertices(g_);
  std::vector<char> from_input(n, 0), to_readout(n, 0);
  for (std::size_t v = 0; v < n; ++v) {
    from_input[v] = g_[v].kind == NodeKind::Input;
    for (auto e : boost::make_iterator_range(boost::in_edges(v, g_)))
      if (g_[e].kept && from_input[boost::source(e, g_)]) from_input[v] = 1;
  }
  for (std::size_t v = n; v-- > 0;) {
    to_readout[v] = g_[v].kind == NodeKind::Readout;
    for (auto e : boost::make_iterator_range(boost::out_edges(v, g_)))
      if (g_[e].kept && to_readout[boost::target(e, g_)]) to_readout[v] = 1;
  }
  for (std::size_t v = 0; v < n; ++v) g_[v].kept = from_input[v] && to_readout[v];
  std::size_t kept = 0;
  for (auto e : boost::make_iterator_range(boost::edges(g_))) {
    g_[e].kept = g_[e].kept && g_[boost::source(e, g_)].kept && g_[boost::target(e, g_)].kept;
    kept += g_[e].kept;
  }
  return kept;
}

std::vector<CircuitGraph::EdgeId> CircuitGraph::greedy_order() const {
  // From the read-out backwards: the highest-|score| edge whose target is already reached.
  std::vector<char> reached(boost::num_vertices(g_), 0);
  auto weaker = [&](EdgeId a, EdgeId b) { return std::abs(g_[a].score) < std::abs(g_[b].score); };
  std::priority_queue<EdgeId, std::vector<EdgeId>, decltype(weaker)> frontier(weaker);
  for (auto v : boost::make_iterator_range(boost::vertices(g_)))
    if (g_[v].kind == NodeKind::Readout) {
      reached[v] = 1;
      for (auto e : boost::make_iterator_range(boost::in_edges(v, g_))) frontier.push(e);
    }
  std::vector<EdgeId> order;
  while (!frontier.empty()) {
    auto e = frontier.top();
    frontier.pop();
    order.push_back(e);
    auto parent = boost::source(e, g_);
    if (reached[parent]) continue;
    reached[parent] = 1;
    for (auto in : boost::make_iterator_range(boost::in_edges(parent, g_))) frontier.push(in);
  }
  return order;  // each edge once: an edge enters the frontier only when its target is first reached
}

CircuitGraph& CircuitGraph::keep_top_k(std::size_t k) {
  const auto order = greedy_order();
  auto keep_prefix = [&](std::size_t m) {
    for (auto e : boost::make_iterator_range(boost::edges(g_))) g_[e].kept = false;
    for (std::size_t i = 0; i < m; ++i) g_[order[i]].kept = true;
    return close_circuit();
  };
  // Closing only removes edges, and a longer prefix never closes to fewer: search the shortest
  // prefix that closes to >= k edges.
  std::size_t lo = std::min(k, order.size()), hi = order.size();
  while (lo < hi) {
    const auto mid = lo + (hi - lo) / 2;
    if (keep_prefix(mid) >= k) hi = mid;
    else lo = mid + 1;
  }
  keep_prefix(lo);
  return *this;
}

std::vector<std::string> CircuitGraph::kept_components() const {
  std::vector<std::string> out;
  for (auto v : boost::make_iterator_range(boost::vertices(g_)))
    if (g_[v].kept && (g_[v].kind == NodeKind::Head || g_[v].kind == NodeKind::Mlp)) out.push_back(g_[v].name);
  return out;
}

std::vector<std::tuple<std::string, std::string, double>> CircuitGraph::top_edges(std::size_t k, bool kept_only) const {
  std::vector<std::tuple<std::string, std::string, double>> out;
  for (auto e : boost::make_iterator_range(boost::edges(g_))) {
    if (kept_only && !g_[e].kept) continue;
    auto target = receiver_name(g_[boost::target(e, g_)], g_[e].qkv);
    out.emplace_back(g_[boost::source(e, g_)].name, target, g_[e].score);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return std::abs(std::get<2>(a)) > std::abs(std::get<2>(b)); });
  if (out.size() > k) out.resize(k);
  return out;
}

}  // namespace patchbay

// CircuitGraph: HDF5 tables, GraphViz DOT, GraphML and the EAP-IG JSON.
#include <algorithm>
#include <cmath>
#include <map>

#include "patchbay/core/error.hpp"
#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/io/h5_json.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/core/text.hpp"

namespace patchbay {
namespace {

// Bounds on what a graph file may declare (GPT-2 Small: 12 x 12; the largest open models: ~128 x 128).
constexpr int kMaxGraphHeads = 256;
constexpr int kMaxGraphLayers = 256;

std::string edge_name(const CircuitGraph::Graph& g, CircuitGraph::EdgeId e, const std::string& readout_as) {
  auto name = [&](CircuitGraph::Vertex v) { return g[v].kind == NodeKind::Readout ? readout_as : g[v].name; };
  const auto target = boost::target(e, g);
  return name(boost::source(e, g)) + "->" + (g[target].kind == NodeKind::Readout ? readout_as : receiver_name(g[target], g[e].qkv));
}

double max_abs_score(const CircuitGraph::Graph& g) {
  double m = 0;
  for (auto e : boost::make_iterator_range(boost::edges(g)))
    if (std::isfinite(g[e].score)) m = std::max(m, std::abs(g[e].score));
  return m;
}

}  // namespace

void CircuitGraph::write(H5Writer& out, const std::string& group) const {
  std::vector<std::string> names, kinds, spans, qkv;
  std::vector<std::int64_t> layer, head, kept, source, target, edge_kept;
  std::vector<double> score, edge_score;
  for (auto v : boost::make_iterator_range(boost::vertices(g_))) {
    names.push_back(g_[v].name);
    kinds.push_back(to_string(g_[v].kind));
    spans.push_back(g_[v].span);
    layer.push_back(g_[v].layer);
    head.push_back(g_[v].head);
    score.push_back(g_[v].score);
    kept.push_back(g_[v].kept);
  }
  for (auto e : boost::make_iterator_range(boost::edges(g_))) {
    source.push_back(static_cast<std::int64_t>(boost::source(e, g_)));
    target.push_back(static_cast<std::int64_t>(boost::target(e, g_)));
    qkv.push_back(g_[e].qkv);
    edge_score.push_back(g_[e].score);
    edge_kept.push_back(g_[e].kept);
  }
  const std::string n = group + "/nodes/", e = group + "/edges/";
  const std::vector<std::string> node_axis{"node"}, edge_axis{"edge"};
  out.write_strings(n + "name", names, {node_axis, "component name: input, a{layer}.h{head}, m{layer}, readout"});
  out.write_strings(n + "kind", kinds, {node_axis, "component kind: input, head, mlp, readout"});
  out.write_strings(n + "span", spans, {node_axis, "span of a position-aware node (rows of graph/spans/name); empty for whole components"});
  out.write_int64s(n + "layer", layer, {node_axis, "block of the component; -1 for the input, the probe layer for the read-out"});
  out.write_int64s(n + "head", head, {node_axis, "attention head index; -1 for other components"});
  out.write_doubles(n + "score", score, {node_axis, "sum of |score| of the node's edges"});
  out.write_int64s(n + "kept", kept, {node_axis, "1 if the node is in the pruned circuit"});
  out.write_int64s(e + "source", source, {edge_axis, "row of graph/nodes the edge leaves"});
  out.write_int64s(e + "target", target, {edge_axis, "row of graph/nodes the edge enters"});
  out.write_strings(e + "qkv", qkv, {edge_axis, "input of the receiving head (q, k or v); empty for MLPs and the read-out"});
  out.write_doubles(e + "score", edge_score, {edge_axis, "edge score: change of the metric (path patching) or its estimate (EAP, EAP-IG)"});
  out.write_int64s(e + "kept", edge_kept, {edge_axis, "1 if the edge is in the pruned circuit"});
  const std::pair<const char*, std::string> text[] = {
      {"method", info_.method}, {"metric", info_.metric}, {"model", info_.model},
      {"dataset", info_.dataset}, {"probe", info_.probe}, {"sink", "readout"}, {"provenance", info_.provenance.dump()}};
  for (const auto& [key, value] : text) out.write_attribute(key, value, group);
  const std::pair<const char*, std::int64_t> numbers[] = {
      {"seed", static_cast<std::int64_t>(info_.seed)}, {"readout_layer", info_.readout_layer},
      {"model_layers", info_.model_layers}, {"n_heads", info_.n_heads}, {"n_kv_heads", info_.n_kv_heads},
      {"d_model", info_.d_model}};
  for (const auto& [key, value] : numbers) out.write_attribute(key, value, group);
}

namespace {

// The graph group's attributes, checked: text must be UTF-8 (it becomes JSON and XML in
// exports), numbers integers, and the sizes exports enumerate bounded.
GraphInfo read_graph_info(const H5Reader& in, const std::string& group) {
  auto text = [&](const char* key) {
    auto value = in.attribute(key, group).value_or("");
    try {
      (void)nlohmann::json(value).dump();
    } catch (const nlohmann::json::type_error&) {
      fail<FormatError>("'{}': graph attribute '{}' is not valid UTF-8 text", in.path(), key);
    }
    return value;
  };
  auto integer = [&](const char* key) {
    auto value = in.numeric_attribute(key, group);
    if (!value || *value != std::floor(*value) || std::abs(*value) > 1e15)
      fail<FormatError>("'{}': graph attribute '{}' is missing or not an integer", in.path(), key);
    return static_cast<std::int64_t>(*value);
  };
  GraphInfo i;
  i.method = text("method");
  i.metric = text("metric");
  i.model = text("model");
  i.dataset = text("dataset");
  i.probe = text("probe");
  i.seed = static_cast<std::uint64_t>(integer("seed"));
  i.readout_layer = static_cast<int>(integer("readout_layer"));
  i.n_heads = static_cast<int>(integer("n_heads"));
  i.d_model = static_cast<int>(integer("d_model"));
  i.n_kv_heads = static_cast<int>(integer("n_kv_heads"));
  i.model_layers = static_cast<int>(integer("model_layers"));
  if (i.n_heads < 1 || i.n_heads > kMaxGraphHeads || i.model_layers < 1 || i.model_layers > kMaxGraphLayers ||
      i.readout_layer < 0 || i.readout_layer >= i.model_layers || i.n_kv_heads < 1 || i.n_kv_heads > i.n_heads)
    fail<FormatError>("'{}': graph attributes out of range: n_heads {} (1..{}), n_kv_heads {} (1..n_heads), model_layers {} (1..{}), "
                      "readout_layer {} (0..model_layers-1)",
                      in.path(), i.n_heads, kMaxGraphHeads, i.n_kv_heads, i.model_layers, kMaxGraphLayers, i.readout_layer);
  i.provenance = parse_result_json(text("provenance"), fmt::format("'{}': graph provenance", in.path()));
  return i;
}

// Names are identifiers patchbay writes ("a3.h5", "m2", "input", "readout"): printable ASCII.
void check_name(const H5Reader& in, const std::string& name, std::size_t i) {
  if (name.empty() || name.size() > 160 ||
      !std::all_of(name.begin(), name.end(), [](char ch) { return ch > ' ' && ch < 127 && ch != '"' && ch != '\\'; }))
    fail<FormatError>("'{}': node {} has an invalid name (expected up to 160 printable ASCII characters)", in.path(), i);
}

void read_nodes(const H5Reader& in, const std::string& group, CircuitGraph::Graph& g) {
  const std::string n = group + "/nodes/";
  const auto names = in.read_strings(n + "name"), kinds = in.read_strings(n + "kind");
  const auto layer = in.read_int64s(n + "layer"), head = in.read_int64s(n + "head"), kept = in.read_int64s(n + "kept");
  const auto score = in.read_doubles(n + "score");
  const auto V = names.size();
  // Graphs written before position-aware circuits have no span column: whole components.
  const auto spans = in.has(n + "span") ? in.read_strings(n + "span") : std::vector<std::string>(V);
  if (spans.size() != V) fail<FormatError>("'{}': node columns of /{}/nodes have different lengths", in.path(), group);
  if (kinds.size() != V || layer.size() != V || head.size() != V || kept.size() != V || score.size() != V)
    fail<FormatError>("'{}': node columns of /{}/nodes have different lengths", in.path(), group);
  for (std::size_t i = 0; i < V; ++i) {
    check_name(in, names[i], i);
    if (layer[i] < -1 || layer[i] > 100000 || head[i] < -1 || head[i] > 100000)
      fail<FormatError>("'{}': node {} has layer {} and head {}, out of range", in.path(), i, layer[i], head[i]);
    if (!std::isfinite(score[i]))
      fail<FormatError>("'{}': node {} '{}' has score {} (expected a finite number)", in.path(), i, names[i], score[i]);
    NodeKind kind;
    try {
      kind = parse_node_kind(kinds[i]);
    } catch (const InputError& e) {
      fail<FormatError>("'{}': node {}: {}", in.path(), i, e.what());
    }
    if (split_span(names[i]).second != spans[i] || !(spans[i].empty() || is_span_name(spans[i])))
      fail<FormatError>("'{}': node {} '{}' has span '{}' (expected the name's part after '@')", in.path(), i, names[i], spans[i]);
    boost::add_vertex(CircuitNode{names[i], kind, static_cast<int>(layer[i]), static_cast<int>(head[i]), score[i], kept[i] != 0, spans[i]}, g);
  }
}

void read_edges(const H5Reader& in, const std::string& group, CircuitGraph::Graph& g) {
  const std::string e = group + "/edges/";
  const auto source = in.read_int64s(e + "source"), target = in.read_int64s(e + "target"), kept = in.read_int64s(e + "kept");
  const auto score = in.read_doubles(e + "score");
  const auto qkv = in.read_strings(e + "qkv");
  const auto E = source.size(), V = boost::num_vertices(g);
  if (target.size() != E || kept.size() != E || score.size() != E || qkv.size() != E)
    fail<FormatError>("'{}': edge columns of /{}/edges have different lengths", in.path(), group);
  for (std::size_t i = 0; i < E; ++i) {
    if (!(qkv[i].empty() || qkv[i] == "q" || qkv[i] == "k" || qkv[i] == "v"))
      fail<FormatError>("'{}': edge {} has input '{}' (expected q, k, v or empty)", in.path(), i, qkv[i]);
    if (!std::isfinite(score[i]))
      fail<FormatError>("'{}': edge {} has score {} (expected a finite number)", in.path(), i, score[i]);
    const auto s = source[i], t = target[i];
    if (s < 0 || static_cast<std::size_t>(s) >= V || t < 0 || static_cast<std::size_t>(t) >= V)
      fail<FormatError>("'{}': edge {} joins vertices {} -> {}, outside 0..{}", in.path(), i, s, t, static_cast<std::int64_t>(V) - 1);
    boost::add_edge(static_cast<CircuitGraph::Vertex>(s), static_cast<CircuitGraph::Vertex>(t), CircuitEdge{qkv[i], score[i], kept[i] != 0}, g);
  }
}

}  // namespace

CircuitGraph CircuitGraph::read(const H5Reader& in, const std::string& group) {
  if (!in.has(group + "/nodes/name") || !in.has(group + "/edges/source"))
    fail<FormatError>("'{}' holds no circuit graph (expected /{}/nodes and /{}/edges)", in.path(), group, group);
  CircuitGraph cg;
  cg.info_ = read_graph_info(in, group);  // first: exports are sized by it
  read_nodes(in, group, cg.g_);
  read_edges(in, group, cg.g_);
  return cg;
}

std::string CircuitGraph::to_dot(bool kept_only) const {
  // Embeddings at the bottom, the read-out at the top; width by |score|, colour by sign.
  std::string out = "digraph circuit {\n  rankdir=BT;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n";
  std::map<int, std::vector<std::string>> ranks;
  for (auto v : boost::make_iterator_range(boost::vertices(g_))) {
    const auto& n = g_[v];
    if (kept_only && !n.kept) continue;
    const char* fill = n.kind == NodeKind::Head ? "#dbe8f5" : n.kind == NodeKind::Mlp ? "#f5e6d3" : "#e0e0e0";
    out += fmt::format("  \"{}\" [fillcolor=\"{}\", tooltip=\"{} (layer {}), score {:.4g}\"];\n", n.name, fill,
                       to_string(n.kind), n.layer, n.score);
    ranks[n.kind == NodeKind::Readout ? 1 << 20 : n.kind == NodeKind::Mlp ? 2 * n.layer + 1 : 2 * n.layer].push_back(n.name);
  }
  for (const auto& [rank, names] : ranks) {
    out += "  { rank=same;";
    for (const auto& name : names) out += " \"" + name + "\";";
    out += " }\n";
  }
  const double top = std::max(max_abs_score(g_), 1e-30);
  for (auto e : boost::make_iterator_range(boost::edges(g_))) {
    if (kept_only && !g_[e].kept) continue;
    const auto& edge = g_[e];
    out += fmt::format("  \"{}\" -> \"{}\" [penwidth={:.2f}, color=\"{}\"{}, tooltip=\"{:.4g}\"];\n",
                       g_[boost::source(e, g_)].name, g_[boost::target(e, g_)].name,
                       std::isfinite(edge.score) ? 0.5 + 4.5 * std::abs(edge.score) / top : 5.0,  // NaN / inf: widest
                       edge.score >= 0 ? "#2166ac" : "#b2182b", edge.qkv.empty() ? "" : ", label=\"" + edge.qkv + "\"", edge.score);
  }
  return out + "}\n";
}

std::string CircuitGraph::to_graphml() const {
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n"
      "  <key id=\"kind\" for=\"node\" attr.name=\"kind\" attr.type=\"string\"/>\n"
      "  <key id=\"layer\" for=\"node\" attr.name=\"layer\" attr.type=\"int\"/>\n"
      "  <key id=\"head\" for=\"node\" attr.name=\"head\" attr.type=\"int\"/>\n"
      "  <key id=\"nscore\" for=\"node\" attr.name=\"score\" attr.type=\"double\"/>\n"
      "  <key id=\"nkept\" for=\"node\" attr.name=\"kept\" attr.type=\"boolean\"/>\n"
      "  <key id=\"escore\" for=\"edge\" attr.name=\"score\" attr.type=\"double\"/>\n"
      "  <key id=\"qkv\" for=\"edge\" attr.name=\"qkv\" attr.type=\"string\"/>\n"
      "  <key id=\"ekept\" for=\"edge\" attr.name=\"kept\" attr.type=\"boolean\"/>\n";
  // Graph-level provenance: what was measured, on what, by which build.
  const std::pair<const char*, std::string> graph_data[] = {
      {"method", info_.method},   {"metric", info_.metric},   {"model", info_.model},
      {"dataset", info_.dataset}, {"probe", info_.probe},     {"seed", std::to_string(info_.seed)},
      {"readout_layer", std::to_string(info_.readout_layer)}, {"model_layers", std::to_string(info_.model_layers)},
      {"sink", "readout"},        {"provenance", info_.provenance.dump()}};
  for (const auto& [key, value] : graph_data)
    out += fmt::format("  <key id=\"g_{0}\" for=\"graph\" attr.name=\"{0}\" attr.type=\"string\"/>\n", key);
  out += fmt::format("  <graph id=\"{}\" edgedefault=\"directed\">\n", escape_xml(info_.method.empty() ? "circuit" : info_.method));
  for (const auto& [key, value] : graph_data) out += fmt::format("    <data key=\"g_{}\">{}</data>\n", key, escape_xml(value));
  for (auto v : boost::make_iterator_range(boost::vertices(g_))) {
    const auto& n = g_[v];
    out += fmt::format(
        "    <node id=\"{}\"><data key=\"kind\">{}</data><data key=\"layer\">{}</data><data key=\"head\">{}</data>"
        "<data key=\"nscore\">{:.9g}</data><data key=\"nkept\">{}</data></node>\n",
        escape_xml(n.name), to_string(n.kind), n.layer, n.head, n.score, n.kept ? "true" : "false");
  }
  std::size_t i = 0;
  for (auto e : boost::make_iterator_range(boost::edges(g_))) {
    out += fmt::format(
        "    <edge id=\"e{}\" source=\"{}\" target=\"{}\"><data key=\"escore\">{:.9g}</data><data key=\"qkv\">{}</data>"
        "<data key=\"ekept\">{}</data></edge>\n",
        i++, escape_xml(g_[boost::source(e, g_)].name), escape_xml(g_[boost::target(e, g_)].name), g_[e].score,
        g_[e].qkv, g_[e].kept ? "true" : "false");
  }
  return out + "  </graph>\n</graphml>\n";
}

nlohmann::json CircuitGraph::to_eap_json() const {
  for (auto v : boost::make_iterator_range(boost::vertices(g_)))
    if (!g_[v].span.empty())
      fail<InputError>("a position-aware graph ({}) has no EAP-IG JSON form: EAP-IG's Graph has no positions (use --graphml or --dot)", g_[v].name);
  // Our edges by their EAP-IG name; the sink is EAP-IG's "logits".
  std::map<std::string, const CircuitEdge*> ours;
  for (auto e : boost::make_iterator_range(boost::edges(g_))) ours[edge_name(g_, e, "logits")] = &g_[e];
  std::map<std::string, bool> kept_node;
  for (auto v : boost::make_iterator_range(boost::vertices(g_))) kept_node[g_[v].name] = g_[v].kept;

  // Every node and edge of EAP-IG's Graph.from_model over the model's depth.
  const int depth = info_.model_layers;  // >= readout_layer + 1: set by from_edge_scores, checked by read
  const auto layout = edge_layout(info_.n_heads, depth - 1);
  nlohmann::json nodes = nlohmann::json::object(), edges = nlohmann::json::object();
  for (const auto& s : layout.senders) nodes[s.name] = {{"in_graph", kept_node.count(s.name) && kept_node[s.name]}};
  nodes["logits"] = {{"in_graph", true}};  // EAP-IG's sink is always in the graph
  for (const auto& s : layout.senders)
    for (const auto& r : layout.receivers) {
      if (!EdgeLayout::upstream(s, r)) continue;
      const auto name = s.name + "->" + (r.side == ReceiverSide::Readout ? std::string("logits") : r.name);
      auto it = ours.find(name);
      edges[name] = {{"score", it == ours.end() ? 0.0 : it->second->score}, {"in_graph", it != ours.end() && it->second->kept}};
    }
  const auto sink_hook = fmt::format("blocks.{}.hook_resid_post", info_.readout_layer);
  return {{"cfg",
           {{"n_layers", depth},
            {"n_heads", info_.n_heads},
            {"n_key_value_heads", info_.n_kv_heads},
            {"ungroup_grouped_query_attention", true},
            {"parallel_attn_mlp", false},
            {"d_model", info_.d_model}}},
          {"nodes", nodes},
          {"edges", edges},
          {"patchbay",
           {{"sink", "readout"},
            {"sink_exported_as", "logits"},
            {"sink_hook", sink_hook},
            {"graph_n_layers", info_.readout_layer + 1},
            {"model_n_layers", depth},
            {"note", "edges into 'logits' are edges into the probe read-out at " + sink_hook +
                         "; layers after it are not part of the graph (unscored, not in the graph)"},
            {"method", info_.method},
            {"metric", info_.metric},
            {"provenance", info_.provenance}}}};
}

}  // namespace patchbay

#pragma once
// The discovered circuit as a Boost.Graph: vertices are components (the input embeddings, each
// attention head a{l}.h{h}, each MLP m{l}, and the probe read-out), edges carry scores from
// edge attribution or path patching. Pruning flags edges and vertices as kept and never removes
// them, so vertex ids never shift.
#include <string>
#include <vector>

#include <boost/graph/adjacency_list.hpp>
#include <nlohmann/json.hpp>

#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/edge_layout.hpp"

namespace patchbay {

class H5Writer;
class H5Reader;

using NodeKind = ComponentKind;  // graph vertices are the edge layout's components
const char* to_string(NodeKind kind);
NodeKind parse_node_kind(const std::string& name);

// In a position-aware graph a node is a component at a span: "a3.h5@w2", span "w2" (the
// read-out has none); whole-component graphs leave the span empty.
struct CircuitNode {
  std::string name;  // "input", "a3.h5", "m2", "readout"; "a3.h5@w2" at a span
  NodeKind kind = NodeKind::Input;
  int layer = -1;    // -1 for the input; the read-out's layer is the probe's
  int head = -1;
  double score = 0;  // sum of |score| of the node's edges, or a node-level score
  bool kept = true;
  std::string span;  // the span's name; empty for whole components and the read-out
};

struct CircuitEdge {
  std::string qkv;   // "q", "k", "v" for edges into heads, else empty
  double score = 0;
  bool kept = true;
};

// The receiver an edge enters: the target's name with the head input side, "a1.h2<k>" or by
// span "a1.h2<k>@w1" (qkv empty: the target's name).
std::string receiver_name(const CircuitNode& target, const std::string& qkv);

struct GraphInfo {
  std::string method;   // "eap", "eap-ig", "path"
  std::string metric;   // "probe_logit_diff(to=2, from=1) at blocks.3.hook_resid_post"
  std::string model;
  std::string dataset;  // how the pairs were made
  std::string probe;    // the probe file and layer
  std::uint64_t seed = 0;
  int readout_layer = 0;  // the graph's last layer: its sink reads blocks.L.hook_resid_post
  int model_layers = 0;   // the model's depth (EAP-IG cfg.n_layers); 0 in a GraphInfo given to from_edge_scores: the read-out layer + 1
  int n_heads = 0;
  int n_kv_heads = 0;     // key/value heads (grouped-query attention); k/v edges are per query head
  int d_model = 0;
  nlohmann::json provenance;
};

class CircuitGraph {
 public:
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, CircuitNode, CircuitEdge>;
  using Vertex = Graph::vertex_descriptor;
  using EdgeId = Graph::edge_descriptor;

  CircuitGraph() = default;
  // Every valid (sender, receiver) pair of the scores becomes an edge; all kept.
  static CircuitGraph from_edge_scores(const EdgeScores& scores, GraphInfo info);

  const Graph& graph() const { return g_; }
  const GraphInfo& info() const { return info_; }
  std::size_t num_nodes() const { return boost::num_vertices(g_); }
  std::size_t num_edges() const { return boost::num_edges(g_); }
  std::size_t kept_nodes() const;
  std::size_t kept_edges() const;
  Vertex vertex(const std::string& name) const;  // throws InputError listing names when absent

  // Pruning flags edges and vertices; nothing is removed. Every pruned circuit is closed as
  // EAP-IG's Graph.prune() leaves it: each kept vertex lies on a kept path from the input to
  // the read-out, so pruning it again in EAP-IG changes nothing.
  // keep_top_k: greedy from the read-out, as EAP-IG's apply_greedy: edges in the order of
  // repeatedly taking the highest-|score| edge into the circuit so far; the circuit is the
  // shortest prefix of that order that keeps at least k edges once closed (all edges if fewer).
  CircuitGraph& keep_top_k(std::size_t k);

  // Kept heads and MLPs (the components a faithfulness test leaves un-ablated).
  std::vector<std::string> kept_components() const;
  // Edges sorted by |score|, descending: (source name, target name + <qkv>, score).
  std::vector<std::tuple<std::string, std::string, double>> top_edges(std::size_t k, bool kept_only = false) const;

  // Exports. kept_only: only the pruned circuit.
  std::string to_dot(bool kept_only = true) const;
  std::string to_graphml() const;
  // The EAP-IG graph JSON in EAP-IG's current format (Graph.to_json / from_json): cfg with the
  // model's depth, nodes {"a0.h1": {"in_graph": bool}}, edges {"a0.h1->a2.h3<q>": {"score",
  // "in_graph"}}, holding every node and edge Graph.from_model(cfg) creates (those beyond the
  // graph's read-out layer unscored: score 0, not in the graph). EAP-IG's sink must be called
  // "logits": the read-out is exported under that name, and "patchbay" records what it is.
  nlohmann::json to_eap_json() const;

  // /GROUP/nodes and /GROUP/edges tables (one dataset per column) plus attributes.
  void write(H5Writer& out, const std::string& group = "graph") const;
  static CircuitGraph read(const H5Reader& in, const std::string& group = "graph");

 private:
  // EAP-IG's prune(): unflags vertices without a kept path from the input and to the read-out,
  // and edges touching them. Returns the number of kept edges.
  std::size_t close_circuit();
  std::vector<EdgeId> greedy_order() const;
  Graph g_;
  GraphInfo info_;
};

}  // namespace patchbay

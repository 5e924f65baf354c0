#pragma once
// How well a graph's scores recover a known circuit: ROC AUC of node and edge scores against a
// ground truth, as MIB's circuit track scores methods on circuits that are known.
#include <optional>
#include <string>
#include <vector>

#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/patching/edge_layout.hpp"
#include "patchbay/patching/spans.hpp"

namespace patchbay {

// A known circuit, read from JSON: {"nodes": ["a0.h0", "m0"], "edges": ["input->a0.h0<k>", ...]}
// (component and edge names as everywhere in patchbay; "logits" reads as "readout").
struct GroundTruth {
  std::string source;               // the file it was read from, for messages
  std::vector<std::string> nodes;   // heads and MLPs in the circuit
  std::vector<std::string> edges;   // "sender->receiver" with <q|k|v> on head receivers
  static GroundTruth read_file(const std::string& path);           // throws InputError naming the file and what is wrong
  static GroundTruth parse(const std::string& text, std::string source);
  // Before any work: every node is a head or MLP of the layout and every edge one of its edges;
  // InputError naming the first that is not. With spans (a position-aware graph) names may be
  // positional ("a1.h2@w1", "input@w0->a1.h2<k>@w1") or whole ("a1.h2": the component at every
  // span); without, positional names are refused.
  void check_against(const EdgeLayout& layout, const SpanSchema& spans = {}) const;
};

// The probability that a random positive scores above a random negative (ties count half):
// the area under the ROC curve, by the rank-sum (Mann-Whitney) statistic. Needs at least one
// positive and one negative.
double roc_auc(const std::vector<double>& scores, const std::vector<bool>& positive);

struct GroundTruthAuc {
  std::string ground_truth;  // the file the truth came from
  double node_roc_auc = 0;  // over heads and MLPs, by node score (sum of |score| of the node's edges); a whole name marks every span of it
  double edge_roc_auc = 0;  // over every edge, by |score|
};
// Throws InputError naming any ground-truth node or edge the graph does not have.
GroundTruthAuc ground_truth_auc(const CircuitGraph& graph, const GroundTruth& truth);

class H5Writer;
class H5Reader;
// The `graph` group's attributes node_roc_auc and edge_roc_auc (float64; NaN when the ground
// truth named no node, or no edge) and ground_truth (its file); read: nullopt when absent.
void write_ground_truth_auc(H5Writer& out, const GroundTruthAuc& auc);
std::optional<GroundTruthAuc> read_ground_truth_auc(const H5Reader& in);

}  // namespace patchbay

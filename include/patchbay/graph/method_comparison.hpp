#pragma once
// Several edge-scoring methods on the same pairs and metric, side by side: for each, the
// circuit it keeps (the same number of edges asked for), that circuit's faithfulness under
// every ablation, the curve's CPR and CMD, the ROC AUC against a ground truth when one is
// given, and the time it took (scoring, pruning and evaluation).
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/graph/ground_truth.hpp"

namespace patchbay {

struct MethodComparisonRow {
  std::string method;                      // "path", "eap", "eap-ig"
  std::size_t edges = 0, nodes = 0;        // kept in its circuit
  std::vector<double> faithfulness;        // per ablation, at the circuit's own size
  std::vector<double> cpr, cmd;            // per ablation
  double node_roc_auc = NAN, edge_roc_auc = NAN;  // NaN without a ground truth
  double seconds = 0;
};

struct MethodComparison {
  std::vector<std::string> ablations;
  std::vector<MethodComparisonRow> rows;
  bool empty() const { return rows.empty(); }
};

// The row of one method's circuit and its evaluation.
MethodComparisonRow comparison_row(const std::string& method, const CircuitGraph& graph, const Faithfulness& faithfulness,
                                   const std::optional<GroundTruthAuc>& auc, double seconds);

class H5Writer;
class H5Reader;
// comparison/... (docs/FORMAT.md); read: empty when absent.
void write_method_comparison(H5Writer& out, const MethodComparison& comparison);
MethodComparison read_method_comparison(const H5Reader& in);

}  // namespace patchbay

#pragma once
// How much of the clean-vs-corrupted difference a pruned circuit recovers.
#include <vector>

#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/patching/ablation.hpp"

namespace patchbay {

// Faithfulness of pruned circuits: for each size (number of top edges kept), every head and MLP
// outside the circuit takes its value on the corrupted prompt, and the result is the fraction
// of the clean-vs-corrupted metric difference recovered: (m - corrupted) / (clean - corrupted).
struct FaithfulnessPoint {
  std::size_t edges = 0;
  std::size_t nodes = 0;
  double faithfulness = 0;
};
std::vector<FaithfulnessPoint> faithfulness_curve(const Model& model, const std::vector<PromptPair>& pairs,
                                                  const Metric& metric, CircuitGraph graph,
                                                  const std::vector<std::size_t>& sizes);

class H5Writer;
class H5Reader;
// graph/faithfulness/{edges,nodes,value} (docs/FORMAT.md); read: empty when absent.
void write_faithfulness(H5Writer& out, const std::vector<FaithfulnessPoint>& curve);
std::vector<FaithfulnessPoint> read_faithfulness(const H5Reader& in);

}  // namespace patchbay

#pragma once
// How faithful a discovered circuit is, as MIB's circuit track measures it: at fixed fractions
// of the graph's edges and under several ablations of everything outside the circuit, because
// a circuit found under one ablation often fails under another.
//
// For circuit C and ablation a, with m_a(C) the metric of the clean prompts with every edge
// outside C ablated (patching/circuit_metric.hpp):
//   faithfulness_a(C) = (m_a(C) - m_a(empty)) / (m_a(full) - m_a(empty))
// so the whole graph scores exactly 1 and the empty circuit exactly 0 under every ablation.
// Circuits of each size are kept greedily by |score| (CircuitGraph::keep_top_k) and closed.
// CPR (area under the curve) and CMD (area between the curve and 1) integrate over MIB's
// fractions by trapezoids on a linear axis from 0.001 to 1, as MIB's evaluate_area_under_curve.
#include <optional>
#include <string>
#include <vector>

#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/patching/ablation.hpp"

namespace patchbay {

// MIB's edge fractions: 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.
const std::vector<double>& mib_edge_fractions();

// An ablation of everything outside the circuit, by its MIB name: "zero", "mean",
// "mean-positional" (one mean per position), "resample", "corrupted" (MIB's "patching").
struct NamedAblation {
  std::string name;
  AblationOptions options;
};
std::vector<NamedAblation> circuit_ablations(std::uint64_t resample_seed);  // all five, in that order
NamedAblation parse_circuit_ablation(const std::string& name, std::uint64_t resample_seed);  // throws InputError naming the five

struct FaithfulnessPoint {
  double fraction = 0;         // edges asked for / all edges (MIB's fraction, or the graph's own size)
  std::size_t edges = 0;       // edges kept once the circuit is closed
  std::size_t nodes = 0;       // nodes kept
  bool graph_size = false;     // the graph's own kept size, not one of the fractions (not in the areas)
  std::vector<double> value;   // faithfulness per ablation
};

struct CurveAreas {
  double cpr = 0;  // integral of faithfulness
  double cmd = 0;  // integral of |1 - faithfulness|
};
// Trapezoids over (fraction, faithfulness) points in ascending fraction (at least two).
CurveAreas curve_areas(const std::vector<double>& fractions, const std::vector<double>& faithfulness);

struct Faithfulness {
  std::vector<std::string> ablations;        // names, one per ablation
  std::vector<double> full, empty;           // m_a(full) (the clean metric) and m_a(empty), means over pairs
  std::vector<FaithfulnessPoint> points;     // ascending fraction
  std::vector<CurveAreas> areas;             // per ablation, over the points that are not graph_size
  // Per ablation: empty, or why its faithfulness means little: m(full) - m(empty) points the
  // wrong way for the metric or is within twice its standard error over pairs.
  std::vector<std::string> warnings;
  bool empty_result() const { return points.empty(); }
  std::size_t ablation_index(const std::string& name) const;  // throws InputError when absent
};

struct FaithfulnessOptions {
  std::vector<NamedAblation> ablations = circuit_ablations(0);
  std::vector<double> fractions = mib_edge_fractions();  // each in (0, 1], ascending
  bool with_graph_size = true;                           // also the graph's own kept size
  std::optional<SpanSchema> spans;                       // a position-aware graph's spans (circuit_metric by span)
};

// `graph` as discovered: its kept edges are the "graph size" point. Each warning also goes to
// the warning handler (core/warnings.hpp).
Faithfulness faithfulness(const Model& model, const std::vector<PromptPair>& pairs, const Metric& metric,
                          const CircuitGraph& graph, const FaithfulnessOptions& options = {});

class H5Writer;
class H5Reader;
// graph/faithfulness/... (docs/FORMAT.md); read: empty when absent.
void write_faithfulness(H5Writer& out, const Faithfulness& f);
Faithfulness read_faithfulness(const H5Reader& in);

}  // namespace patchbay

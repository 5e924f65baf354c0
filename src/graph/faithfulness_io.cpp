#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "patchbay/core/error.hpp"
#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {

namespace {
constexpr const char* kGroup = "graph/faithfulness/";
std::string path(const char* name) { return std::string(kGroup) + name; }
}  // namespace

void write_faithfulness(H5Writer& out, const Faithfulness& f) {
  std::vector<double> fraction, value, cpr, cmd;
  std::vector<std::int64_t> edges, nodes, graph_size;
  for (const auto& p : f.points) {
    fraction.push_back(p.fraction);
    edges.push_back(static_cast<std::int64_t>(p.edges));
    nodes.push_back(static_cast<std::int64_t>(p.nodes));
    graph_size.push_back(p.graph_size ? 1 : 0);
  }
  for (std::size_t a = 0; a < f.ablations.size(); ++a) {
    for (const auto& p : f.points) value.push_back(p.value[a]);
    cpr.push_back(f.areas[a].cpr);
    cmd.push_back(f.areas[a].cmd);
  }
  const auto A = static_cast<std::int64_t>(f.ablations.size()), P = static_cast<std::int64_t>(f.points.size());
  out.write_strings(path("ablation"), f.ablations, {{"ablation"}, "how everything outside the circuit is ablated: zero, mean, mean-positional, resample, corrupted"});
  out.write_doubles(path("fraction"), fraction, {{"point"}, "circuit size asked for, as a fraction of the graph's edges (MIB's, or the graph's own)"});
  out.write_int64s(path("edges"), edges, {{"point"}, "edges kept once the circuit is closed"});
  out.write_int64s(path("nodes"), nodes, {{"point"}, "nodes kept"});
  out.write_int64s(path("graph_size"), graph_size, {{"point"}, "1 for the graph's own kept size (not in the areas), 0 for a fixed fraction"});
  out.write_tensor(path("value"), at::tensor(value, at::kDouble).view({A, P}),
                   {{"ablation", "point"}, "faithfulness (m(circuit) - m(empty)) / (m(full) - m(empty)), every edge outside the circuit ablated"});
  out.write_doubles(path("full"), f.full, {{"ablation"}, "metric with nothing ablated (the clean run), mean over pairs"});
  out.write_doubles(path("empty"), f.empty, {{"ablation"}, "metric with every edge ablated, mean over pairs"});
  out.write_doubles(path("cpr"), cpr, {{"ablation"}, "CPR: area under the faithfulness curve over the fixed fractions (trapezoids, linear axis)"});
  out.write_strings(path("warning"), f.warnings,
                    {{"ablation"}, "empty, or why the ablation's faithfulness means little: m(full) - m(empty) points the wrong way or is within noise"});
  out.write_doubles(path("cmd"), cmd, {{"ablation"}, "CMD: area between the faithfulness curve and 1 over the fixed fractions"});
}

Faithfulness read_faithfulness(const H5Reader& in) {
  if (!in.has(path("value"))) return {};
  Faithfulness f;
  f.ablations = in.read_strings(path("ablation"));
  const auto fraction = in.read_doubles(path("fraction"));
  const auto edges = in.read_int64s(path("edges")), nodes = in.read_int64s(path("nodes")), graph_size = in.read_int64s(path("graph_size"));
  const auto A = f.ablations.size(), P = fraction.size();
  const auto value = in.read_tensor_of_rank(path("value"), 2).to(at::kDouble).contiguous();
  f.full = in.read_doubles(path("full"));
  f.empty = in.read_doubles(path("empty"));
  const auto cpr = in.read_doubles(path("cpr")), cmd = in.read_doubles(path("cmd"));
  f.warnings = in.read_strings(path("warning"));
  if (edges.size() != P || nodes.size() != P || graph_size.size() != P || value.size(0) != static_cast<std::int64_t>(A) ||
      value.size(1) != static_cast<std::int64_t>(P) || f.full.size() != A || f.empty.size() != A || cpr.size() != A || cmd.size() != A || f.warnings.size() != A)
    fail<FormatError>("'{}': graph/faithfulness is inconsistent: {} ablations and {} points, but value is {}", in.path(), A, P, value.sizes());
  for (std::size_t i = 0; i < P; ++i) {
    if (edges[i] < 0 || nodes[i] < 0) fail<FormatError>("'{}': graph/faithfulness has a negative size", in.path());
    FaithfulnessPoint p{fraction[i], static_cast<std::size_t>(edges[i]), static_cast<std::size_t>(nodes[i]), graph_size[i] != 0, {}};
    for (std::size_t a = 0; a < A; ++a) p.value.push_back(value[static_cast<std::int64_t>(a)][static_cast<std::int64_t>(i)].item<double>());
    f.points.push_back(std::move(p));
  }
  for (std::size_t a = 0; a < A; ++a) f.areas.push_back({cpr[a], cmd[a]});
  return f;
}

}  // namespace patchbay

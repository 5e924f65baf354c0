#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/graph/faithfulness.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/io/h5_writer.hpp"

namespace patchbay {

void write_faithfulness(H5Writer& out, const std::vector<FaithfulnessPoint>& curve) {
  std::vector<std::int64_t> edges, nodes;
  std::vector<double> value;
  for (const auto& p : curve) {
    edges.push_back(static_cast<std::int64_t>(p.edges));
    nodes.push_back(static_cast<std::int64_t>(p.nodes));
    value.push_back(p.faithfulness);
  }
  out.write_tensor("graph/faithfulness/edges", at::tensor(edges, at::kLong), {{"size"}, "kept edges of each circuit size"});
  out.write_tensor("graph/faithfulness/nodes", at::tensor(nodes, at::kLong), {{"size"}, "kept nodes of each circuit size"});
  out.write_tensor("graph/faithfulness/value", at::tensor(value, at::kDouble).to(at::kFloat),
                   {{"size"}, "faithfulness (circuit - corrupted) / (clean - corrupted), every head and MLP outside the circuit taking its corrupted value"});
}

std::vector<FaithfulnessPoint> read_faithfulness(const H5Reader& in) {
  if (!in.has("graph/faithfulness/value")) return {};
  const auto edges = in.read_int64s("graph/faithfulness/edges"), nodes = in.read_int64s("graph/faithfulness/nodes");
  const auto value = in.read_doubles("graph/faithfulness/value");
  if (edges.size() != value.size() || nodes.size() != value.size())
    fail<FormatError>("'{}': graph/faithfulness has {} edge counts, {} node counts and {} values", in.path(), edges.size(), nodes.size(), value.size());
  std::vector<FaithfulnessPoint> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (edges[i] < 0 || nodes[i] < 0) fail<FormatError>("'{}': graph/faithfulness has a negative size", in.path());
    out.push_back({static_cast<std::size_t>(edges[i]), static_cast<std::size_t>(nodes[i]), value[i]});
  }
  return out;
}

}  // namespace patchbay

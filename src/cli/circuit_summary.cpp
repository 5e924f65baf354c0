#include "circuit_summary.hpp"

#include <fmt/format.h>

namespace patchbay::cli {

void print_circuit_summary(const nlohmann::json& s) {
  if (!s.contains("circuit")) return;
  fmt::print("circuit ({}): {} nodes, {} edges\n", s["method"].get<std::string>(), s["circuit"]["nodes"].get<std::size_t>(),
             s["circuit"]["edges"].get<std::size_t>());
  const nlohmann::json* own = nullptr;
  for (const auto& p : s["faithfulness"])
    if (p["graph_size"].get<bool>()) own = &p;
  fmt::print("  {:<16} {:>12} {:>8} {:>8}\n", "ablation", "faithfulness", "CPR", "CMD");
  auto number = [](const nlohmann::json& v) { return v.is_number() ? fmt::format("{:.3f}", v.get<double>()) : std::string("nan"); };
  for (const auto& [name, areas] : s["faithfulness_areas"].items())
    fmt::print("  {:<16} {:>12} {:>8} {:>8}\n", name, own ? number((*own)["faithfulness"][name]) : "-", number(areas["cpr"]), number(areas["cmd"]));
  if (s.contains("node_roc_auc") && !(s["node_roc_auc"].is_null() && s["edge_roc_auc"].is_null()))
    fmt::print("against the ground truth: node ROC AUC {}, edge ROC AUC {}\n", number(s["node_roc_auc"]), number(s["edge_roc_auc"]));
}

}  // namespace patchbay::cli

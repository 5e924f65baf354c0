// patchbay inspect: what a result file holds, its provenance and headline numbers.
#include <iostream>

#include "command.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/graph/circuit_graph.hpp"
#include "patchbay/io/h5_json.hpp"
#include "patchbay/io/h5_reader.hpp"

namespace patchbay::cli {
namespace {

struct InspectArgs {
  std::string file;
  std::size_t top = 10;
  bool dot = false, graphml = false, json = false, eap_json = false;
};

void add_options(CLI::App* cmd, InspectArgs& o) {
  cmd->add_option("file", o.file, "result file (.h5)")->required();
  cmd->add_option("--top", o.top, "how many components and edges to list")->check(CLI::PositiveNumber);
  auto* dot = cmd->add_flag("--dot", o.dot, "print the circuit graph as GraphViz DOT");
  auto* graphml = cmd->add_flag("--graphml", o.graphml, "print the circuit graph as GraphML");
  auto* eap = cmd->add_flag("--eap-json", o.eap_json, "print the circuit graph in the EAP-IG JSON format");
  auto* json = cmd->add_flag("--json", o.json, "print the summary as JSON");
  dot->excludes(graphml)->excludes(eap)->excludes(json);
  graphml->excludes(eap)->excludes(json);
  eap->excludes(json);
}

// Everything `inspect --json` prints: kind, provenance, summary, datasets and the graph's headline.
nlohmann::json describe(const H5Reader& in, std::size_t top) {
  nlohmann::json j{{"file", in.path()}, {"kind", in.attribute("kind").value_or("unknown")},
                   {"provenance", read_json_attribute(in, "provenance")}, {"summary", read_json_attribute(in, "summary")}};
  j["datasets"] = nlohmann::json::array();
  for (const auto& d : in.datasets()) j["datasets"].push_back({{"name", d}, {"shape", in.shape(d)}});
  if (!in.has("graph/nodes/name")) return j;
  const auto graph = CircuitGraph::read(in);
  nlohmann::json edges = nlohmann::json::array();
  for (const auto& [from, to, score] : graph.top_edges(top, true)) edges.push_back({{"from", from}, {"to", to}, {"score", score}});
  j["graph"] = {{"nodes", graph.num_nodes()}, {"edges", graph.num_edges()}, {"kept_nodes", graph.kept_nodes()},
                {"kept_edges", graph.kept_edges()}, {"method", graph.info().method}, {"top_edges", edges},
                {"components", graph.kept_components()}};
  return j;
}

void print_summary(const std::string& kind, const nlohmann::json& s, std::size_t top) {
  if (!s.is_object()) return;
  if (kind == "word_index") {
    fmt::print("  chance {:.3f}; baselines: absolute position {:.3f}, space count {:.3f}\n", s.value("chance", 0.0),
               s["baselines"].value("abs_position", 0.0), s["baselines"].value("space_count", 0.0));
    for (const auto& l : s["layers"])
      fmt::print("  layer {:>5}: accuracy {:.3f}, control {:.3f}, selectivity {:+.3f}\n", l.value("layer", "?"),
                 l.value("val_accuracy", 0.0), l.value("control_accuracy", 0.0), l.value("selectivity", 0.0));
  } else if (kind == "counting_circuit") {
    fmt::print("  metric: {}\n  clean {:.3f}, corrupted {:.3f}\n", s.value("metric", "?"), s.value("clean_metric", 0.0),
               s.value("corrupted_metric", 0.0));
    fmt::print("  top heads by exact patching:");
    std::size_t n = 0;
    for (const auto& h : s["top_heads_patching"])
      if (n++ < top) fmt::print(" {} {:+.3f};", h.value("component", "?"), h.value("effect", 0.0));
    fmt::print("\n  attribution vs patching correlation {:.3f}\n", s.value("attribution_vs_patching_correlation", 0.0));
  }
}

void print_text(const nlohmann::json& j, std::size_t top) {
  const std::string kind = j["kind"];
  fmt::print("{}: {} ({} datasets)\n", j["file"].get<std::string>(), kind, j["datasets"].size());
  if (const auto& p = j["provenance"]; p.is_object())
    fmt::print("  made by patchbay {} ({}) from {} [{}], sha256 {}..., {}\n", p.value("library_version", "?"), p.value("git_commit", "?"),
               p.value("model", "?"), p.value("model_architecture", "?"), p.value("model_sha256", "?").substr(0, 12),
               p.value("created_utc", "?"));
  print_summary(kind, j["summary"], top);
  if (j.contains("graph")) {
    const auto& g = j["graph"];
    fmt::print("  circuit graph ({}): {} of {} nodes, {} of {} edges kept\n", g["method"].get<std::string>(), g["kept_nodes"].get<std::size_t>(),
               g["nodes"].get<std::size_t>(), g["kept_edges"].get<std::size_t>(), g["edges"].get<std::size_t>());
    for (const auto& e : g["top_edges"])
      fmt::print("    {:>10} -> {:<14} {:+.4f}\n", e["from"].get<std::string>(), e["to"].get<std::string>(), e["score"].get<double>());
  }
  if (kind == "activation_cache" || kind == "activation_features" || kind == "unknown")
    for (const auto& d : j["datasets"]) fmt::print("  {} {}\n", d["name"].get<std::string>(), d["shape"].dump());
}

void run_inspect(const InspectArgs& o) {
  H5Reader in(o.file);
  if (o.dot || o.graphml || o.eap_json) {
    if (!in.has("graph/nodes/name")) fail<InputError>("'{}' ({}) holds no circuit graph", o.file, in.attribute("kind").value_or("unknown"));
    const auto graph = CircuitGraph::read(in);
    std::cout << (o.dot ? graph.to_dot() : o.graphml ? graph.to_graphml() : graph.to_eap_json().dump(2) + "\n");
    return;
  }
  const auto j = describe(in, o.top);
  if (o.json) std::cout << j.dump(2) << std::endl;
  else print_text(j, o.top);
}

}  // namespace

void add_inspect_command(CLI::App& app, const GlobalOptions&, Runner& selected) {
  auto o = std::make_shared<InspectArgs>();
  add_options(app.add_subcommand("inspect", "summarise a patchbay result file"), *o);
  app.get_subcommand("inspect")->callback([&selected, o] { selected = [o] { run_inspect(*o); }; });
}

}  // namespace patchbay::cli

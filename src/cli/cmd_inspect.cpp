// patchbay inspect: what a result file holds, its provenance and headline numbers.
#include <iostream>

#include "args.hpp"
#include "command.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/text.hpp"
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
  cmd->add_option("--top", o.top, "how many components and edges to list")->check(positive_number());
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

// The elements of field `key` when it is an array (each an object), else none.
std::vector<nlohmann::json> objects_in(const nlohmann::json& s, const char* key, const std::string& what) {
  std::vector<nlohmann::json> out;
  if (!s.is_object() || !s.contains(key)) return out;
  if (!s.at(key).is_array()) fail_json_field(what, key, s.at(key), "an array");
  for (const auto& e : s.at(key)) {
    if (!e.is_object()) fail_json_field(what, key, s.at(key), "an array of objects");
    out.push_back(e);
  }
  return out;
}

void print_summary(const std::string& kind, const nlohmann::json& s, std::size_t top, const std::string& what) {
  if (!s.is_object()) return;
  auto number = [&](const nlohmann::json& j, const char* key) { return json_field<double>(j, key, 0.0, what); };
  auto text = [&](const nlohmann::json& j, const char* key) { return escape_text(json_field<std::string>(j, key, "?", what)); };
  if (kind == "word_index") {
    const auto baselines = json_field<nlohmann::json>(s, "baselines", nlohmann::json::object(), what);
    fmt::print("  chance {:.3f}; baselines: absolute position {:.3f}, space count {:.3f}\n", number(s, "chance"),
               number(baselines, "abs_position"), number(baselines, "space_count"));
    for (const auto& l : objects_in(s, "layers", what))
      fmt::print("  layer {:>5}: accuracy {:.3f}, control {:.3f}, selectivity {:+.3f}\n", text(l, "layer"), number(l, "val_accuracy"),
                 number(l, "control_accuracy"), number(l, "selectivity"));
  } else if (kind == "counting_circuit") {
    fmt::print("  metric: {}\n  clean {:.3f}, corrupted {:.3f}\n", text(s, "metric"), number(s, "clean_metric"),
               number(s, "corrupted_metric"));
    fmt::print("  top heads by exact patching:");
    std::size_t n = 0;
    for (const auto& h : objects_in(s, "top_heads_patching", what))
      if (n++ < top) fmt::print(" {} {:+.3f};", text(h, "component"), number(h, "effect"));
    fmt::print("\n  attribution vs patching correlation {:.3f}\n", number(s, "attribution_vs_patching_correlation"));
  }
}

void print_text(const nlohmann::json& j, std::size_t top) {
  const std::string kind = j["kind"];
  const auto file = j["file"].get<std::string>();
  fmt::print("{}: {} ({} datasets)\n", escape_text(file), escape_text(kind), j["datasets"].size());
  if (const auto& p = j["provenance"]; p.is_object()) {
    auto text = [&](const char* key) {
      return escape_text(json_field<std::string>(p, key, "?", fmt::format("'{}': attribute 'provenance'", file)));
    };
    fmt::print("  made by patchbay {} ({}) from {} [{}], sha256 {}..., {}\n", text("library_version"), text("git_commit"), text("model"),
               text("model_architecture"), text("model_sha256").substr(0, 12), text("created_utc"));
  }
  print_summary(kind, j["summary"], top, fmt::format("'{}': attribute 'summary'", file));
  if (j.contains("graph")) {
    const auto& g = j["graph"];
    fmt::print("  circuit graph ({}): {} of {} nodes, {} of {} edges kept\n", g["method"].get<std::string>(), g["kept_nodes"].get<std::size_t>(),
               g["nodes"].get<std::size_t>(), g["kept_edges"].get<std::size_t>(), g["edges"].get<std::size_t>());
    for (const auto& e : g["top_edges"])
      fmt::print("    {:>10} -> {:<14} {:+.4f}\n", escape_text(e["from"].get<std::string>()), escape_text(e["to"].get<std::string>()),
                 e["score"].get<double>());
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
  // Invalid UTF-8 from the file becomes U+FFFD: the output is always valid JSON.
  if (o.json) std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  else print_text(j, o.top);
}

}  // namespace

void add_inspect_command(CLI::App& app, const GlobalOptions&, Runner& selected) {
  auto o = std::make_shared<InspectArgs>();
  add_options(app.add_subcommand("inspect", "summarise a patchbay result file"), *o);
  app.get_subcommand("inspect")->callback([&selected, o] { selected = [o] { run_inspect(*o); }; });
}

}  // namespace patchbay::cli

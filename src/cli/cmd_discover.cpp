// patchbay discover: the counting-circuit study for a probe trained by `patchbay word-index`.
#include <filesystem>
#include <iostream>

#include "args.hpp"
#include "checkpoint.hpp"
#include "circuit_summary.hpp"
#include "command.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/experiments/counting_circuit.hpp"
#include "patchbay/model/load.hpp"

namespace patchbay::cli {
namespace {
std::vector<int> parse_split(const std::string& text, const char* what) {
  std::vector<int> out;
  for (const auto& part : split_list(text, ",|", /*keep_empty=*/true)) {
    try {
      std::size_t used = 0;
      out.push_back(std::stoi(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      fail<InputError>("{}: '{}' is not a list of token counts such as 3,1", what, text);
    }
    if (out.back() < 1) fail<InputError>("{}: token count {} in '{}' must be at least 1", what, out.back(), text);
  }
  return out;
}
struct DiscoverArgs {
  std::string model, probe, probe_layer, method = "eap", clean_split, corrupted_split, ground_truth, out, span_aggregation = "sum";
  int pairs = 32, ig_steps = 5;
  std::size_t top = 20;
  std::uint64_t seed = 0;
  bool json = false, force = false, resume = false, positional = false;
};

void add_options(CLI::App* cmd, DiscoverArgs& o) {
  cmd->add_option("--model", o.model, "model directory (default: the default model)");
  cmd->add_option("--probe", o.probe, "word-index result file holding the probe")->required();
  cmd->add_option("--probe-layer", o.probe_layer, "probe layer to use (default: the run's main layer)");
  cmd->add_option("--method", o.method, "edge scores: path (path patching), eap or eap-ig; several (path,eap): the first is the graph, all are compared")
      ->check(edge_methods_check(/*allow_none=*/false));
  add_positional_options(cmd, o.positional, o.span_aggregation);
  // 10^4 pairs: ~1 s of compute and under 1 MB of peak memory a pair on stories260K (100000
  // was documented but needed ~1 TB before the passes were chunked, and days of compute).
  cmd->add_option("--pairs", o.pairs, "number of clean/corrupted pairs")->check(CLI::Range(1, 10000));
  cmd->add_option("--clean-split", o.clean_split, "tokens per word of the clean prompt, e.g. 3,1");
  cmd->add_option("--corrupted-split", o.corrupted_split, "tokens per word of the corrupted prompt, e.g. 1,2,1");
  cmd->add_option("--ig-steps", o.ig_steps, "EAP-IG integration steps")->check(CLI::Range(1, 1000));
  cmd->add_option("--top", o.top, "edges kept in the recorded circuit")->check(positive_number());
  cmd->add_option("--ground-truth", o.ground_truth, "JSON {\"nodes\": [...], \"edges\": [...]} of a known circuit: ROC AUC of the graph's scores");
  cmd->add_option("--seed", o.seed, "seed for the pairs")->check(non_negative_integer());
  cmd->add_option("--out", o.out, "result file (default results/counting/MODEL_METHOD_seedS.h5)");
  cmd->add_flag("--force", o.force, "overwrite an existing result file");
  cmd->add_flag("--resume", o.resume, "continue an interrupted run from its checkpoint (same probe contents and options)");
  cmd->add_flag("--json", o.json, "print the summary as JSON on stdout");
}

CountingCircuitOptions study_options(const DiscoverArgs& o, const ProbeSource& probe) {
  CountingCircuitOptions x;
  const auto methods = parse_edge_methods(o.method);
  x.method = methods.front();
  if (methods.size() > 1) x.compare_methods = methods;
  x.positional = positional_option(o.positional, o.span_aggregation);
  x.ig_steps = o.ig_steps;
  x.top_edges = o.top;
  if (!o.ground_truth.empty()) x.ground_truth = GroundTruth::read_file(o.ground_truth);
  x.pairs = pair_options_for(probe);
  x.pairs.n_pairs = o.pairs;
  x.pairs.seed = o.seed;
  if (!o.clean_split.empty()) x.pairs.clean_split = parse_split(o.clean_split, "--clean-split");
  if (!o.corrupted_split.empty()) x.pairs.corrupted_split = parse_split(o.corrupted_split, "--corrupted-split");
  return x;
}

void print_summary(const CountingCircuitOptions& x, const CountingCircuitResults& results, const nlohmann::json& summary,
                   const std::vector<std::string>& paths) {
  fmt::print("{} pairs ({} vs {}); metric: {}\n", results.pairs.size(), fmt::join(x.pairs.clean_split, "|"),
             fmt::join(x.pairs.corrupted_split, "|"), summary["metric"].get<std::string>());
  fmt::print("clean {:.3f}, corrupted {:.3f}\n", summary["clean_metric"].get<double>(), summary["corrupted_metric"].get<double>());
  fmt::print("heads by patching effect (clean into corrupted):\n");
  for (const auto& h : summary["top_heads_patching"]) fmt::print("  {:>8} {:+.3f}\n", h["component"].get<std::string>(), h["effect"].get<double>());
  fmt::print("attribution vs exact patching correlation: {:.3f}\n", results.attributions.front().correlation_with_patching);
  print_circuit_summary(summary);
  fmt::print("results: {}\n", paths.front());
}

void run_discover(const DiscoverArgs& o, const GlobalOptions& global) {
  Model model = load_model(resolve_model_dir(o.model), parse_device(global.device));
  const auto probe = load_probe_for(model, o.probe, o.probe_layer);
  auto x = study_options(o, probe);
  const auto out = result_path(o.out, "counting", fmt::format("{}_{}_seed{}.h5", model.config().name, to_string(x.method), o.seed), o.force,
                               std::vector<std::string>{o.probe, o.ground_truth});
  Checkpoint checkpoint(out, o.resume);
  x.checkpoint_dir = checkpoint.dir();
  const auto [results, paths] = checkpoint.run([&] {
    auto results = run_counting_circuit(model, probe, x);
    auto paths = write_counting_circuit(out, o.force, model, probe, x, results);
    return std::pair{std::move(results), std::move(paths)};
  });
  auto summary = results.summary();
  summary["outputs"] = paths;
  if (o.json) std::cout << summary.dump(2) << std::endl;
  else print_summary(x, results, summary, paths);
}

}  // namespace

void add_discover_command(CLI::App& app, const GlobalOptions& global, Runner& selected) {
  auto o = std::make_shared<DiscoverArgs>();
  auto* cmd = app.add_subcommand("discover", "find the circuit behind a word-index probe");
  add_options(cmd, *o);
  cmd->callback([&selected, &global, o] { selected = [&global, o] { run_discover(*o, global); }; });
}

}  // namespace patchbay::cli


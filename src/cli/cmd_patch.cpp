// patchbay patch: a patching study of the user's pairs (JSON Lines) and metric.
#include <filesystem>
#include <iostream>
#include <memory>

#include "args.hpp"
#include "checkpoint.hpp"
#include "circuit_summary.hpp"
#include "command.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/data/pairs_file.hpp"
#include "patchbay/experiments/patching_study.hpp"
#include "patchbay/experiments/provenance.hpp"
#include "patchbay/experiments/study_checkpoint.hpp"
#include "patchbay/model/load.hpp"
#include "patchbay/patching/output_metrics.hpp"
#include "patchbay/probe/probe_source.hpp"

namespace patchbay::cli {
namespace {

struct PatchArgs {
  std::string model, pairs, metric = "logit-diff", probe, probe_layer, probe_classes, sweeps, graph = "none", ground_truth, out, span_aggregation = "sum";
  int ig_steps = 5;
  std::size_t top = 20;
  std::uint64_t seed = 0;
  bool json = false, force = false, resume = false, no_bos = false, positional = false;
};

void add_options(CLI::App* cmd, PatchArgs& o) {
  cmd->add_option("--model", o.model, "model directory (default: the default model)");
  cmd->add_option("--pairs", o.pairs, "JSON Lines file of prompt pairs (docs/FORMAT.md)")->required();
  cmd->add_option("--metric", o.metric, "logit-diff, logprob, kl (from the clean run) or probe")
      ->check(CLI::IsMember({"logit-diff", "logprob", "kl", "probe"}));
  cmd->add_option("--probe", o.probe, "word-index result file holding the probe (--metric probe)");
  cmd->add_option("--probe-layer", o.probe_layer, "probe layer (default: the run's main layer)");
  cmd->add_option("--probe-classes", o.probe_classes, "CLEAN,CORRUPTED: the probe metric is logit(CLEAN) - logit(CORRUPTED)");
  cmd->add_option("--sweeps", o.sweeps, "comma-separated sweeps such as z_layer_head,resid_pre_layer_position (default: discover's)");
  cmd->add_option("--graph", o.graph, "circuit graph by path patching, eap or eap-ig, or none; several (path,eap,eap-ig): the first is the graph, all are compared")
      ->check(edge_methods_check(/*allow_none=*/true));
  add_positional_options(cmd, o.positional, o.span_aggregation);
  cmd->add_option("--ig-steps", o.ig_steps, "EAP-IG integration steps")->check(CLI::Range(1, 1000));
  cmd->add_option("--top", o.top, "edges kept in the recorded circuit")->check(positive_number());
  cmd->add_option("--ground-truth", o.ground_truth, "JSON {\"nodes\": [...], \"edges\": [...]} of a known circuit: ROC AUC of the graph's scores");
  cmd->add_option("--seed", o.seed, "seed of resample ablation")->check(non_negative_integer());
  cmd->add_flag("--no-bos", o.no_bos, "do not prepend BOS to text prompts (default: prepend it, as TransformerLens does)");
  cmd->add_option("--out", o.out, "result file (default results/patching/MODEL_METRIC.h5)");
  cmd->add_flag("--force", o.force, "overwrite an existing result file");
  cmd->add_flag("--resume", o.resume, "continue an interrupted run from its checkpoint (same input contents and options)");
  cmd->add_flag("--json", o.json, "print the summary as JSON on stdout");
}

std::unique_ptr<Metric> probe_metric(const PatchArgs& o, const Model& model, std::vector<std::string>& inputs) {
  if (o.probe.empty() || o.probe_classes.empty()) fail<InputError>("--metric probe needs --probe FILE and --probe-classes CLEAN,CORRUPTED");
  const auto classes = split_list(o.probe_classes);
  if (classes.size() != 2) fail<InputError>("--probe-classes: expected two classes CLEAN,CORRUPTED, got '{}'", o.probe_classes);
  const auto source = load_probe_for(model, o.probe, o.probe_layer);
  inputs.push_back(o.probe);
  return std::make_unique<ProbeLogitDiff>(source.probe, model.config(), source.layer, parse_int(classes[0], "--probe-classes"),
                                          parse_int(classes[1], "--probe-classes"));
}

std::unique_ptr<Metric> make_metric(const PatchArgs& o, const Model& model, const std::vector<PromptPair>& pairs,
                                    std::vector<std::string>& inputs) {
  if (o.metric == "probe") return probe_metric(o, model, inputs);
  if (!o.probe.empty()) fail<InputError>("--probe is only read with --metric probe");
  if (o.metric == "logprob") return std::make_unique<LogProb>(model, pairs);
  if (o.metric == "kl") return std::make_unique<KlFromClean>(model, pairs);
  return std::make_unique<LogitDiff>(model, pairs);
}

PatchingStudyOptions study_options(const PatchArgs& o) {
  PatchingStudyOptions s;
  if (!o.sweeps.empty()) {
    s.sweeps.clear();
    for (const auto& name : split_list(o.sweeps)) s.sweeps.push_back(PatchSweep::parse(name));
  }
  s.attribution_sweeps = s.sweeps;
  s.ablation.seed = o.seed;
  if (o.graph != "none") {
    const auto methods = parse_edge_methods(o.graph);
    s.graph = methods.front();
    if (methods.size() > 1) s.compare_methods = methods;
  }
  s.positional = positional_option(o.positional, o.span_aggregation);
  if (s.positional && !s.graph) fail<InputError>("--positional shapes the circuit graph: choose one with --graph path|eap|eap-ig");
  s.ig_steps = o.ig_steps;
  s.top_edges = o.top;
  if (!o.ground_truth.empty()) s.ground_truth = GroundTruth::read_file(o.ground_truth);
  return s;
}

nlohmann::json config_of(const PatchArgs& o, const PatchingStudyOptions& s) {
  std::vector<std::string> sweeps;
  for (const auto& sweep : s.sweeps) sweeps.push_back(sweep.short_name());
  return {{"pairs", o.pairs}, {"metric", o.metric}, {"probe", o.probe}, {"probe_layer", o.probe_layer},
          {"probe_classes", o.probe_classes}, {"sweeps", sweeps}, {"graph", o.graph}, {"ig_steps", o.ig_steps},
          {"top_edges", o.top}, {"seed", o.seed}, {"bos", !o.no_bos}, {"ground_truth", o.ground_truth},
          {"positional", o.positional ? o.span_aggregation : ""}};
}

void print_summary(const nlohmann::json& s, const std::vector<std::string>& paths) {
  fmt::print("{} pairs; metric: {}\n", s["pairs"].get<std::size_t>(), s["metric"].get<std::string>());
  fmt::print("clean {:.4f}, corrupted {:.4f}{}\n", s["clean_metric"].get<double>(), s["corrupted_metric"].get<double>(),
             s["metric_separated"].get<bool>() ? "" : " (not separated: effects are not meaningful)");
  if (s.contains("top_heads_patching")) {
    fmt::print("heads by patching effect (clean into corrupted):\n");
    for (const auto& h : s["top_heads_patching"]) fmt::print("  {:>8} {:+.3f}\n", h["component"].get<std::string>(), h["effect"].get<double>());
  }
  for (const auto& a : s["attribution"])
    fmt::print("attribution vs exact patching, {}: correlation {:.3f}\n", a["sweep"].get<std::string>(), a["correlation_with_patching"].get<double>());
  print_circuit_summary(s);
  fmt::print("results: {}\nreport: {}\n", paths[0], paths[1]);
}

void run_patch(const PatchArgs& o, const GlobalOptions& global) {
  Model model = load_model(resolve_model_dir(o.model), parse_device(global.device));
  const auto& c = model.config();
  const PairsFileOptions file{.tokenizer = model.has_tokenizer() ? &model.tokenizer() : nullptr, .vocab_size = c.d_vocab,
                              .max_tokens = c.n_ctx, .bos = !o.no_bos};
  auto pairs = read_pairs_file(o.pairs, file);
  std::vector<std::string> inputs{o.pairs};
  if (!o.ground_truth.empty()) inputs.push_back(o.ground_truth);
  const auto metric = make_metric(o, model, pairs, inputs);
  const auto options = study_options(o);
  const auto out = result_path(o.out, "patching", fmt::format("{}_{}.h5", c.name, o.metric), o.force, inputs);
  GraphInfo info{.model = c.name, .dataset = fmt::format("{} pairs from {}", pairs.size(), o.pairs), .probe = o.probe,
                 .seed = o.seed, .model_layers = static_cast<int>(c.n_layers), .n_heads = static_cast<int>(c.n_heads),
                 .n_kv_heads = static_cast<int>(c.n_kv_heads), .d_model = static_cast<int>(c.d_model)};
  info.provenance = provenance(model, inputs);
  const auto config = config_of(o, options);
  Checkpoint checkpoint(out, o.resume);
  const auto [results, paths] = checkpoint.run([&] {
    const StudyCheckpoint stages(checkpoint.dir(), inputs, config);
    auto results = run_patching_study(model, std::move(pairs), *metric, options, info, &stages);
    auto paths = write_patching_results(out, o.force, model, config, inputs, results);
    return std::pair{std::move(results), std::move(paths)};
  });
  auto summary = results.summary();
  summary["outputs"] = paths;
  if (o.json) std::cout << summary.dump(2) << std::endl;
  else print_summary(summary, paths);
}

}  // namespace

void add_patch_command(CLI::App& app, const GlobalOptions& global, Runner& selected) {
  auto o = std::make_shared<PatchArgs>();
  auto* cmd = app.add_subcommand("patch", "activation patching, attribution and ablation of your own prompt pairs and metric");
  add_options(cmd, *o);
  cmd->callback([&selected, &global, o] { selected = [&global, o] { run_patch(*o, global); }; });
}

}  // namespace patchbay::cli

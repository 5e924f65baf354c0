// patchbay word-index: the word-index probing experiment, end to end.
#include <filesystem>
#include <iostream>

#include "args.hpp"
#include "checkpoint.hpp"
#include "command.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/experiments/word_index.hpp"
#include "patchbay/model/load.hpp"

namespace patchbay::cli {
namespace {

std::vector<int> parse_layers(const std::string& text, const ModelConfig& c) {
  if (text == "all") return {};
  std::vector<int> layers;
  for (const auto& part : split_list(text)) {
    int l = part == "embed" ? -1 : parse_int(part, "--layers");
    if (l < -1 || l >= c.n_layers)
      fail<InputError>("--layers: layer {} is out of range (the model has embed and 0..{})", part, c.n_layers - 1);
    layers.push_back(l);
  }
  if (layers.empty()) fail<InputError>("--layers is empty: expected 'all' or a list such as embed,0,3");
  return layers;
}

void print_table(const WordIndexResults& r, const std::vector<std::string>& paths) {
  fmt::print("word-index probe: {} train points, {} validation points ({} prompts), chance {:.3f}\n",
             r.dataset.train.points.size(), r.dataset.val.points.size(), r.dataset.val.prompts.size(), r.chance());
  fmt::print("{:>6}  {:>9}  {:>9}  {:>8}  {:>11}  {}\n", "layer", "val acc", "train acc", "control", "selectivity", "converged");
  for (const auto& l : r.layers)
    fmt::print("{:>6}  {:9.3f}  {:9.3f}  {:8.3f}  {:11.3f}  {}\n", probe_layer_name(l.layer), l.val.accuracy, l.train_accuracy,
               l.control_accuracy, l.selectivity(), l.probe.converged ? "yes" : "NO (" + l.probe.stop_reason + ")");
  fmt::print("baselines: absolute position {:.3f}, space count {:.3f}\n", r.abs_position_baseline.accuracy,
             r.space_count_baseline.accuracy);
  fmt::print("earliest layer beating absolute position: {}\n",
             r.earliest_working_layer ? probe_layer_name(*r.earliest_working_layer) : "none");
  const auto& main = r.layer(r.main_layer);
  fmt::print("layer {} accuracy per word index:", probe_layer_name(r.main_layer));
  for (double a : main.val.per_label) fmt::print(" {:.2f}", a);
  fmt::print("\nextraction {:.1f} s, probes {:.1f} s\n", r.extract_seconds, r.train_seconds);
  fmt::print("results: {}\nreport: {} ({} figures beside it, e.g. {})\n", paths[0], paths[1], paths.size() - 2,
             companion_path(paths[0], "_key_plot.svg"));
}

struct WordIndexArgs {
  std::string model, layers = "all", word_lengths, variants, prefix, prefix_text, readout = "last", out, activations, dictionary;
  int train_points = 10000, val_prompts = 2560, words = 7, batch_size = 64, max_iter = 1000;
  std::uint64_t seed = 0;
  double C = 1.0, tol = 1e-4;
  bool json = false, force = false, standardize = false, resume = false, no_bos = false;
};

void add_options(CLI::App* cmd, WordIndexArgs& o) {
  cmd->add_option("--model", o.model, "model directory (default: the default model)");
  cmd->add_option("--layers", o.layers, "'all' or a list such as embed,0,3");
  cmd->add_option("--train-points", o.train_points, "training points (last token of each word)")->check(positive_number());
  cmd->add_option("--val-prompts", o.val_prompts, "validation prompts")->check(positive_number());
  cmd->add_option("--words", o.words, "words per prompt")->check(CLI::Range(2, 64));
  cmd->add_option("--word-lengths", o.word_lengths, "allowed tokens per word, e.g. 1,2,3 (default: chosen for the vocabulary)");
  cmd->add_option("--variant", o.variants,
                  "comma-separated: balanced, random-tokens, random-tokens-nospace, long-words, sentences, list, code, first-token");
  cmd->add_option("--prefix", o.prefix, "named prefix from datasets/prefixes.json (default, empty, short, long, ...)");
  cmd->add_option("--prefix-text", o.prefix_text, "literal prefix text (overrides --prefix)");
  cmd->add_option("--readout", o.readout, "token of each word the probe reads: last or first")->check(CLI::IsMember({"last", "first"}));
  cmd->add_option("--seed", o.seed, "seed for the dataset and control task")->check(non_negative_integer());
  cmd->add_option("--C", o.C, "inverse L2 strength (scikit-learn's C)")->check(positive_number());
  cmd->add_option("--tol", o.tol, "convergence tolerance on max |gradient|")->check(positive_number());
  cmd->add_option("--max-iter", o.max_iter, "L-BFGS iteration limit")->check(positive_number());
  cmd->add_flag("--standardize", o.standardize, "standardise features before training");
  cmd->add_option("--batch-size", o.batch_size, "prompts per forward pass")->check(positive_number());
  cmd->add_option("--dictionary", o.dictionary, "word list (default /usr/share/dict/words)");
  cmd->add_option("--activations", o.activations, "HDF5 activation cache to reuse or create");
  cmd->add_option("--out", o.out, "result file (default results/word_index/MODEL_seedS.h5)");
  cmd->add_flag("--no-bos", o.no_bos, "do not prepend the BOS token (default: prepend it, as TransformerLens does)");
  cmd->add_flag("--force", o.force, "overwrite an existing result file");
  cmd->add_flag("--resume", o.resume, "continue an interrupted run from its checkpoint");
  cmd->add_flag("--json", o.json, "print the summary as JSON on stdout");
}

WordIndexExperimentOptions experiment_options(const WordIndexArgs& o, const Model& model) {
  WordIndexExperimentOptions x;
  x.data.dictionary = o.dictionary.empty() ? std::string(kDefaultDictionary) : o.dictionary;
  if (!std::filesystem::exists(x.data.dictionary))
    fail<InputError>("cannot read the word list '{}'; install Debian's wamerican or pass --dictionary FILE", x.data.dictionary);
  x.data.seed = o.seed;
  x.data.bos = !o.no_bos;
  for (const auto& v : split_list(o.variants)) apply_word_index_variant(x, v);
  if (!o.word_lengths.empty()) {
    x.data.unit_lengths.clear();
    for (const auto& part : split_list(o.word_lengths)) x.data.unit_lengths.push_back(parse_int(part, "--word-lengths"));
  } else if (o.variants.find("long-words") == std::string::npos) {
    x.data.unit_lengths = choose_word_lengths(model.tokenizer(), x.data.dictionary, x.data.seed);
  }
  if (!o.prefix.empty()) x.data.prefix = prefix_named(o.prefix);
  if (!o.prefix_text.empty()) x.data.prefix = o.prefix_text;
  if (o.readout == "first") x.data.readout = Readout::FirstToken;
  x.data.n_units = o.words;
  x.data.train_points = o.train_points;
  x.data.val_prompts = o.val_prompts;
  x.layers = parse_layers(o.layers, model.config());
  x.probe = ProbeOptions().c(o.C).tolerance(o.tol).max_iterations(o.max_iter).standardized(o.standardize);
  x.extract.batch_size = o.batch_size;
  x.activations_cache = o.activations;
  return x;
}

void run_word_index(const WordIndexArgs& o, const GlobalOptions& global) {
  Model model = load_model(resolve_model_dir(o.model), parse_device(global.device));
  auto x = experiment_options(o, model);
  const auto out = result_path(o.out, "word_index", fmt::format("{}_seed{}.h5", model.config().name, o.seed), o.force,
                               std::vector<std::string>{o.activations, o.dictionary});
  Checkpoint checkpoint(out, o.resume);
  x.checkpoint_dir = checkpoint.dir();
  const auto [results, paths] = checkpoint.run([&] {
    auto results = run_word_index_experiment(model, x);
    auto paths = write_word_index_results(out, o.force, model, x, results);
    return std::pair{std::move(results), std::move(paths)};
  });
  if (!o.json) return print_table(results, paths);
  auto summary = results.summary(model);
  summary["outputs"] = {{"results", paths[0]},
                        {"report", paths[1]},
                        {"key_plot", companion_path(paths[0], "_key_plot.svg")},
                        {"layer_sweep", companion_path(paths[0], "_layer_sweep.svg")},
                        {"figures", std::vector<std::string>(paths.begin() + 2, paths.end())}};
  std::cout << summary.dump(2) << std::endl;
}

}  // namespace

void add_word_index_command(CLI::App& app, const GlobalOptions& global, Runner& selected) {
  auto o = std::make_shared<WordIndexArgs>();
  auto* cmd = app.add_subcommand("word-index", "probe the residual stream for the index of the word a token belongs to");
  add_options(cmd, *o);
  cmd->callback([&selected, &global, o] { selected = [&global, o] { run_word_index(*o, global); }; });
}

}  // namespace patchbay::cli

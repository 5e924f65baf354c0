// patchbay probe-text: a word-index probe's prediction for every token of arbitrary text.
#include <fstream>
#include <iostream>
#include <iterator>

#include "args.hpp"
#include "command.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/experiments/probe_text_results.hpp"
#include "patchbay/model/load.hpp"
#include "patchbay/probe/probe_source.hpp"

namespace patchbay::cli {
namespace {

struct ProbeTextArgs {
  std::string model, probe, layer, text_file, out;
  bool json = false, force = false, no_bos = false;
};

void add_options(CLI::App* cmd, ProbeTextArgs& o) {
  cmd->add_option("--model", o.model, "model directory (default: the default model)");
  cmd->add_option("--probe", o.probe, "word-index result file holding the probe")->required();
  cmd->add_option("--layer", o.layer, "probe layer (default: the run's main layer)");
  cmd->add_option("--text", o.text_file, "text file (default: stdin)");
  cmd->add_flag("--no-bos", o.no_bos, "do not prepend BOS (default: prepend it, as TransformerLens does)");
  cmd->add_option("--out", o.out, "result file (default results/probe_text/MODEL.h5)");
  cmd->add_flag("--force", o.force, "overwrite an existing result file");
  cmd->add_flag("--json", o.json, "print the tokens and predictions as JSON");
}

std::string read_text(const std::string& file) {
  if (file.empty()) return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  std::ifstream in(file, std::ios::binary);
  if (!in) fail<InputError>("--text: cannot read '{}'", file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

nlohmann::json as_json(const ProbeTextResult& r, const std::vector<std::string>& paths) {
  nlohmann::json tokens = nlohmann::json::array();
  for (std::size_t i = 0; i < r.tokens.size(); ++i) {
    const auto p = r.probabilities[static_cast<std::int64_t>(i)].contiguous();
    tokens.push_back({{"id", r.tokens[i]},
                      {"text", r.token_text[i]},
                      {"predicted", r.predicted[static_cast<std::int64_t>(i)].item<std::int64_t>()},
                      {"probabilities", std::vector<float>(p.data_ptr<float>(), p.data_ptr<float>() + p.numel())}});
  }
  return {{"layer", r.layer}, {"probe", r.probe}, {"tokens", tokens}, {"outputs", paths}};
}

void print_tokens(const ProbeTextResult& r, const std::vector<std::string>& paths) {
  fmt::print("{:>5}  {:<16} {:>4}  probabilities by word index\n", "pos", "token", "word");
  for (std::size_t i = 0; i < r.tokens.size(); ++i) {
    const auto p = r.probabilities[static_cast<std::int64_t>(i)];
    std::string probs;
    for (std::int64_t k = 0; k < p.size(0); ++k) probs += fmt::format(" {:.2f}", p[k].item<double>());
    fmt::print("{:>5}  {:<16} {:>4} {}\n", i, nlohmann::json(r.token_text[i]).dump(), r.predicted[static_cast<std::int64_t>(i)].item<std::int64_t>(), probs);
  }
  fmt::print("results: {}\nreport: {}\n", paths[0], paths[1]);
}

void run_probe_text(const ProbeTextArgs& o, const GlobalOptions& global) {
  Model model = load_model(resolve_model_dir(o.model), parse_device(global.device));
  const auto source = load_probe_for(model, o.probe, o.layer);
  const auto text = read_text(o.text_file);
  const auto out = result_path(o.out, "probe_text", model.config().name + ".h5", o.force, std::vector<std::string>{o.probe, o.text_file});
  auto result = probe_text(model, source.probe, source.layer, text, !o.no_bos);
  result.probe = o.probe;
  const auto paths = write_probe_text_results(out, o.force, model, result);
  if (o.json) std::cout << as_json(result, paths).dump(2) << std::endl;
  else print_tokens(result, paths);
}

}  // namespace

void add_probe_text_command(CLI::App& app, const GlobalOptions& global, Runner& selected) {
  auto o = std::make_shared<ProbeTextArgs>();
  auto* cmd = app.add_subcommand("probe-text", "a word-index probe's prediction for every token of arbitrary text");
  add_options(cmd, *o);
  cmd->callback([&selected, &global, o] { selected = [&global, o] { run_probe_text(*o, global); }; });
}

}  // namespace patchbay::cli

#pragma once
// Each subcommand registers its options on the CLI11 app and returns the function that runs it
// after parsing, so parse errors (exit 2) and runtime errors (exit 1) stay separate.
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace patchbay::cli {

struct GlobalOptions {
  int threads = 0;  // 0 = one per core
  double pass_memory_mib = 64;  // what one batched pass over a chunk of pairs may hold
  std::string device = "cpu";
  bool verbose = false;
};

using Runner = std::function<void()>;

// Adds the subcommand to `app`; `selected` is set to its runner when it is chosen.
void add_run_command(CLI::App& app, const GlobalOptions& global, Runner& selected);
void add_tokenize_command(CLI::App& app, const GlobalOptions& global, Runner& selected);
void add_cache_command(CLI::App& app, const GlobalOptions& global, Runner& selected);
void add_word_index_command(CLI::App& app, const GlobalOptions& global, Runner& selected);
void add_discover_command(CLI::App& app, const GlobalOptions& global, Runner& selected);
void add_patch_command(CLI::App& app, const GlobalOptions& global, Runner& selected);
void add_probe_text_command(CLI::App& app, const GlobalOptions& global, Runner& selected);
void add_inspect_command(CLI::App& app, const GlobalOptions& global, Runner& selected);
void add_report_command(CLI::App& app, const GlobalOptions& global, Runner& selected);
void add_models_command(CLI::App& app, const GlobalOptions& global, Runner& selected);

// The model directory from --model, or the default model when empty.
std::string resolve_model_dir(const std::string& flag);

}  // namespace patchbay::cli

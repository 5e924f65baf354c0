// patchbay command line: parse errors exit 2 with usage, runtime failures exit 1 with one line.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <exception>

#include <H5Cpp.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "args.hpp"
#include "command.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/core/temp_files.hpp"
#include "patchbay/core/version.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/model/load.hpp"

namespace patchbay::cli {

std::string resolve_model_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  try {
    auto model = find_default_model();
    std::fprintf(stderr, "model: %s (%s)\n", model.dir.c_str(), model.reason.c_str());
    return model.dir;
  } catch (const InputError& e) {  // the library says what is missing; the command line, which flag supplies it
    fail<InputError>("{}; or pass --model DIR", e.what());
  }
}

// The first word of the command line that is not an option (nor a global option's value):
// what the user meant as the command, for the message when it names none of them.
std::string first_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--threads" || arg == "--device" || arg == "--pass-memory") ++i;
    else if (!arg.starts_with("-")) return arg;
  }
  return {};
}

std::string command_names(const CLI::App& app) {
  std::string names;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    names += (names.empty() ? "" : ", ") + sub->get_name();
  return names;
}

int run_reporting_errors(const Runner& runner, const GlobalOptions& global, const std::function<int(const char*)>& report);

}  // namespace patchbay::cli

int main(int argc, char** argv) {
  using namespace patchbay;
  CLI::App app{fmt::format("patchbay {} ({}): circuit discovery in transformer language models", library_version(),
                           git_commit())};
  app.require_subcommand(1);
  app.fallthrough();  // global options (--threads, --device, --verbose) may follow the subcommand too
  cli::GlobalOptions global;
  app.add_option("--threads", global.threads, "compute threads (0 = one per core)")->check(cli::non_negative_integer());
  app.add_option("--device", global.device, "cpu, cuda or cuda:N");
  app.add_option("--pass-memory", global.pass_memory_mib,
                 "MiB one batched pass of patching, attribution or ablation may hold for its chunk of pairs (default 64): "
                 "lower on a small machine; beyond the results, memory does not grow with the pairs")
      ->check(cli::positive_number())
      ->check(CLI::Range(1.0, 1048576.0));  // 1 MiB to 1 TiB
  app.add_flag("--verbose,-v", global.verbose, "full error details");
  app.set_version_flag("--version", fmt::format("patchbay {} ({})", library_version(), git_commit()));

  cli::Runner runner;
  cli::add_run_command(app, global, runner);
  cli::add_tokenize_command(app, global, runner);
  cli::add_cache_command(app, global, runner);
  cli::add_word_index_command(app, global, runner);
  cli::add_discover_command(app, global, runner);
  cli::add_patch_command(app, global, runner);
  cli::add_probe_text_command(app, global, runner);
  cli::add_inspect_command(app, global, runner);
  cli::add_report_command(app, global, runner);
  cli::add_models_command(app, global, runner);

  try {
    app.parse(argc, argv);
    cli::refuse_empty_values(app);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const InputError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const CLI::ParseError& e) {
    if (app.get_subcommands().empty() && !cli::first_word(argc, argv).empty()) {
      std::fprintf(stderr, "error: unknown command '%s'; the commands are %s (patchbay --help)\n",
                   cli::first_word(argc, argv).c_str(), cli::command_names(app).c_str());
      return 2;
    }
    // Usage of the subcommand that was being parsed (or of the whole tool), then the error.
    const CLI::App* context = &app;
    for (const auto* sub : app.get_subcommands()) context = sub;
    std::fprintf(stderr, "%s\nerror: %s\n", context->help().c_str(), e.what());
    return 2;
  }

  auto report = [&](const char* detail) {
    std::string text = detail;
    if (!global.verbose) text = text.substr(0, text.find('\n'));  // one line unless --verbose
    std::fprintf(stderr, "error: %s\n", text.c_str());
    return 1;
  };
  install_interrupt_cleanup();
  const int code = cli::run_reporting_errors(runner, global, report);
  if (hdf5_close_failed()) {  // HDF5's exit-time cleanup would crash on the file it could not close
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}

namespace patchbay::cli {

int run_reporting_errors(const Runner& runner, const GlobalOptions& global, const std::function<int(const char*)>& report) {
  try {
    configure_threads(global.threads);
    set_pass_memory_budget_bytes(static_cast<std::int64_t>(global.pass_memory_mib * (1 << 20)));
    runner();
    return 0;
  } catch (const ExistsError& e) {
    return report((std::string(e.what()) + "; pass --force to overwrite it").c_str());
  } catch (const c10::Error& e) {
    return report(global.verbose ? e.what() : e.what_without_backtrace());
  } catch (const H5::Exception& e) {
    return report(e.getDetailMsg().c_str());
  } catch (const std::exception& e) {
    return report(e.what());
  }
}

}  // namespace patchbay::cli

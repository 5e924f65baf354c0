// patchbay command line: parse errors exit 2 with usage, runtime failures exit 1 with one line.
#include <cstdio>
#include <exception>

#include <H5Cpp.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "command.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/core/runtime.hpp"
#include "patchbay/core/temp_files.hpp"
#include "patchbay/core/version.hpp"
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

}  // namespace patchbay::cli

int main(int argc, char** argv) {
  using namespace patchbay;
  CLI::App app{fmt::format("patchbay {} ({}): circuit discovery in transformer language models", library_version(),
                           git_commit())};
  app.require_subcommand(1);
  app.fallthrough();  // global options (--threads, --device, --verbose) may follow the subcommand too
  cli::GlobalOptions global;
  app.add_option("--threads", global.threads, "compute threads (0 = one per core)")->check(CLI::NonNegativeNumber);
  app.add_option("--device", global.device, "cpu, cuda or cuda:N");
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
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
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
  try {
    configure_threads(global.threads);
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

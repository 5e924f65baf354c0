// patchbay report: one self-contained HTML page (and optionally standalone SVGs) from result files.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "command.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/report/report.hpp"

namespace patchbay::cli {

void add_report_command(CLI::App& app, const GlobalOptions& global, Runner& selected) {
  struct Options {
    std::vector<std::string> files;
    std::string out, svg_dir;
    bool json = false, force = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("report", "render result files as one self-contained HTML report");
  cmd->add_option("files", o->files, "result files (.h5), in the order their sections appear")->required();
  cmd->add_option("--out,-o", o->out, "the HTML file to write (default: FIRST_report.html beside the first file)");
  cmd->add_option("--svg-dir", o->svg_dir, "also write every figure as DIR/NAME.svg (the directory must exist)");
  cmd->add_flag("--json", o->json, "print the paths written as JSON");
  cmd->add_flag("--force", o->force, "replace an existing report or figure file");
  cmd->callback([&selected, o] {
    selected = [o] {
      const auto out = o->out.empty() ? companion_path(o->files.front(), "_report.html") : o->out;
      if (!o->svg_dir.empty() && !std::filesystem::is_directory(o->svg_dir))
        fail<InputError>("--svg-dir '{}' is not a directory (create it first)", o->svg_dir);
      const auto prefix = o->svg_dir.empty() ? "" : (std::filesystem::path(o->svg_dir) / "").string();
      const auto report = build_report(o->files);
      const auto written = write_report(report, out, prefix, o->force, o->files);
      if (o->json) {
        std::cout << nlohmann::json{{"report", written.front()}, {"figures", std::vector<std::string>(written.begin() + 1, written.end())}}.dump(2)
                  << std::endl;
        return;
      }
      fmt::print("wrote {} ({} figures{})\n", out, report.figures().size(),
                 o->svg_dir.empty() ? "" : fmt::format(", each also as SVG in {}", o->svg_dir));
    };
  });
  (void)global;
}

}  // namespace patchbay::cli

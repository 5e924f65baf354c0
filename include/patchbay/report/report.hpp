#pragma once
// Reports of result files: every kind patchbay writes (word-index runs, counting circuits,
// activation caches and features) is rendered from the file alone, so a report can be made
// anywhere the file is, without the model.
#include <span>
#include <string>
#include <vector>

#include "patchbay/report/html.hpp"

namespace patchbay {

// One document covering `files` in order. Throws FormatError naming the file and dataset when a
// file lacks something its kind requires or holds inconsistent shapes.
html::Document build_report(const std::vector<std::string>& files);

// Writes the page to `html_path` and, when `figure_prefix` is not empty, every figure as
// `figure_prefix + name + ".svg"`, each atomically. Every path is checked first
// (check_output_path: existing files only when `overwrite`, never one of `inputs`); the page
// is written last, and a failure removes the figures already written, so a failed report
// leaves nothing. Returns the paths written, the page first.
std::vector<std::string> write_report(const html::Document& report, const std::string& html_path,
                                      const std::string& figure_prefix, bool overwrite,
                                      std::span<const std::string> inputs);

}  // namespace patchbay

#pragma once
// Reports of result files: every kind patchbay writes (word-index runs, counting circuits,
// activation caches and features) is rendered from the file alone, so a report can be made
// anywhere the file is, without the model.
#include <string>
#include <vector>

#include "patchbay/report/html.hpp"

namespace patchbay {

// One document covering `files` in order. Throws FormatError naming the file and dataset when a
// file lacks something its kind requires or holds inconsistent shapes.
html::Document build_report(const std::vector<std::string>& files);

// Writes the page to `html_path` and, when `figure_prefix` is not empty, every figure as
// `figure_prefix + name + ".svg"`, each atomically. Returns the paths written, the page first.
std::vector<std::string> write_report(const html::Document& report, const std::string& html_path,
                                      const std::string& figure_prefix);

}  // namespace patchbay

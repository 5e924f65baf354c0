#pragma once
// A `patchbay probe-text` result file (kind "probe_text", docs/FORMAT.md) and its report.
#include <string>
#include <vector>

#include "patchbay/model/model.hpp"
#include "patchbay/probe/probe_text.hpp"

namespace patchbay {

// Writes the file atomically (provenance names the probe file as input), then its report
// beside it; returns the paths written, the HDF5 file first and the report second.
std::vector<std::string> write_probe_text_results(const std::string& path, bool overwrite, const Model& model,
                                                  const ProbeTextResult& result);

}  // namespace patchbay

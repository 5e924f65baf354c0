#pragma once
// What every experiment's result file starts and ends with: the root attributes (kind,
// provenance, model, and the config and summary when the kind has them), and, once the groups
// are written, the atomic commit followed by the report beside the file.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "patchbay/io/h5_writer.hpp"
#include "patchbay/model/model.hpp"

namespace patchbay {

struct ResultHeader {
  std::string kind;                 // "word_index", "counting_circuit", "patching", "probe_text"
  nlohmann::json provenance;        // provenance(model, inputs)
  nlohmann::json config, summary;   // written when not null
};
void write_result_header(H5Writer& out, const Model& model, const ResultHeader& header);

// Commits `out` (written to `path`) and renders its report beside it (NAME_report.html and every
// figure as NAME_<figure>.svg). Returns the paths written: the file, the report, the figures.
std::vector<std::string> commit_with_report(H5Writer& out, const std::string& path);

}  // namespace patchbay

#include "patchbay/experiments/result_file.hpp"

#include "patchbay/report/report.hpp"

namespace patchbay {

void write_result_header(H5Writer& out, const Model& model, const ResultHeader& h) {
  out.write_attribute("kind", h.kind);
  out.write_attribute("provenance", h.provenance.dump());
  if (!h.config.is_null()) out.write_attribute("config", h.config.dump());
  if (!h.summary.is_null()) out.write_attribute("summary", h.summary.dump());
  out.write_attribute("model", model.config().name);
}

std::vector<std::string> commit_with_report(H5Writer& out, const std::string& path) {
  out.commit();
  // The companions belong to the result just committed (new, or replaced with --force): they
  // are replaced with it.
  const std::string inputs[] = {path};
  auto written = write_report(build_report({path}), companion_path(path, "_report.html"), companion_path(path, "_"), /*overwrite=*/true, inputs);
  written.insert(written.begin(), path);
  return written;
}

}  // namespace patchbay

#include "patchbay/experiments/probe_text_results.hpp"

#include "patchbay/experiments/provenance.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/experiments/result_file.hpp"

namespace patchbay {

std::vector<std::string> write_probe_text_results(const std::string& path, bool overwrite, const Model& model, const ProbeTextResult& r) {
  H5Writer out(path, overwrite);
  write_result_header(out, model, {.kind = "probe_text", .provenance = provenance(model, {r.probe})});
  write_probe_text(out, r);
  return commit_with_report(out, path);
}

}  // namespace patchbay

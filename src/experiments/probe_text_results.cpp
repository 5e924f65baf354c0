#include "patchbay/experiments/probe_text_results.hpp"

#include "patchbay/experiments/provenance.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/report/report.hpp"

namespace patchbay {

std::vector<std::string> write_probe_text_results(const std::string& path, bool overwrite, const Model& model, const ProbeTextResult& r) {
  H5Writer out(path, overwrite);
  out.write_attribute("kind", "probe_text");
  out.write_attribute("provenance", provenance(model, {r.probe}).dump());
  out.write_attribute("model", model.config().name);
  write_probe_text(out, r);
  out.commit();
  auto written = write_report(build_report({path}), companion_path(path, "_report.html"), companion_path(path, "_"));
  written.insert(written.begin(), path);
  return written;
}

}  // namespace patchbay

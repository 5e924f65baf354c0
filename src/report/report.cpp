#include "patchbay/report/report.hpp"

#include <cstdio>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/io/output_path.hpp"
#include "patchbay/report/svg.hpp"
#include "report_sections.hpp"

namespace patchbay {
namespace report_detail {

std::vector<std::string> numbered(std::int64_t n) {
  std::vector<std::string> out;
  for (std::int64_t i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

}  // namespace report_detail

namespace {
using namespace report_detail;

// Nested JSON as "a.b.c = value" rows.
void flatten(const nlohmann::json& j, const std::string& key, std::vector<std::vector<std::string>>& rows) {
  if (j.is_object() && !j.empty()) {
    for (const auto& [k, v] : j.items()) flatten(v, key.empty() ? k : key + "." + k, rows);
    return;
  }
  rows.push_back({key, j.is_string() ? j.get<std::string>() : j.dump()});
}

void add_run_section(html::Document& doc, const H5Reader& in, const std::string& kind) {
  auto& s = doc.section(fmt::format("Run parameters and provenance: {}", in.path()));
  s.paragraph(fmt::format("File {} ({} result). Provenance says which code, model and seed made it; the configuration is "
                          "what the run was asked to do.", in.path(), kind));
  for (const auto& [key, title] : {std::pair{"provenance", "provenance"}, {"config", "configuration"}}) {
    const auto j = read_json_attribute(in, key);
    if (j.is_null()) continue;
    html::Table t{.header = {title, "value"}};
    flatten(j, "", t.rows);
    s.table(std::move(t));
  }
  if (kind != "word_index" && kind != "counting_circuit" && kind != "patching" && kind != "probe_text") {
    html::Table t{.header = {"dataset", "shape"}};
    for (const auto& d : in.datasets()) t.rows.push_back({d, nlohmann::json(in.shape(d)).dump()});
    s.table(std::move(t));
  }
}

}  // namespace

html::Document build_report(const std::vector<std::string>& files) {
  if (files.empty()) fail<InputError>("report: no result files given (expected one or more .h5 files)");
  std::string title = "patchbay report";
  if (files.size() == 1) title += ": " + files.front();
  html::Document doc(title);
  for (std::size_t i = 0; i < files.size(); ++i) {
    H5Reader in(files[i]);
    const auto kind = in.attribute("kind").value_or("unknown");
    const std::string prefix = files.size() == 1 ? "" : fmt::format("file{}_", i + 1);
    if (kind == "word_index") add_word_index_sections(doc, in, prefix);
    else if (kind == "counting_circuit") add_counting_circuit_sections(doc, in, prefix);
    else if (kind == "patching") add_patching_sections(doc, in, prefix);
    else if (kind == "probe_text") add_probe_text_sections(doc, in, prefix);
    add_run_section(doc, in, kind);
  }
  return doc;
}

std::vector<std::string> write_report(const html::Document& report, const std::string& html_path, const std::string& figure_prefix,
                                      bool overwrite, std::span<const std::string> inputs) {
  const auto page = report.str();  // checks figure names are unique before anything is written
  std::vector<std::string> figures;
  if (!figure_prefix.empty())
    for (const auto& f : report.figures()) figures.push_back(figure_prefix + html::safe_name(f.name) + ".svg");
  check_output_path(html_path, overwrite, inputs);
  for (const auto& path : figures) check_output_path(path, overwrite, inputs);
  std::size_t done = 0;
  try {
    for (; done < figures.size(); ++done) write_file_atomic(figures[done], report.figures()[done].svg);
    write_file_atomic(html_path, page);
  } catch (...) {
    for (std::size_t i = 0; i < done; ++i) std::remove(figures[i].c_str());
    throw;
  }
  std::vector<std::string> written{html_path};
  written.insert(written.end(), figures.begin(), figures.end());
  return written;
}

}  // namespace patchbay

#pragma once
// Internal to the report: one function per result-file kind adds that kind's sections, and the
// small readers they share. Figure names start with `prefix` so several files fit one page.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "patchbay/io/h5_json.hpp"
#include "patchbay/io/h5_reader.hpp"
#include "patchbay/report/html.hpp"

namespace patchbay::report_detail {

void add_word_index_sections(html::Document& doc, const H5Reader& in, const std::string& prefix);
void add_counting_circuit_sections(html::Document& doc, const H5Reader& in, const std::string& prefix);
void add_patching_sections(html::Document& doc, const H5Reader& in, const std::string& prefix);
void add_probe_text_sections(html::Document& doc, const H5Reader& in, const std::string& prefix);

// The largest dataset the word-index sections read (a hostile file cannot make them allocate more).
inline constexpr std::int64_t kMaxReportElements = std::int64_t(1) << 28;
// "0", "1", ..., "n-1".
std::vector<std::string> numbered(std::int64_t n);

}  // namespace patchbay::report_detail

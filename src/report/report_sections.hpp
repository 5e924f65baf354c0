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

// A dataset as a tensor of the expected rank; FormatError naming the file and dataset otherwise.
at::Tensor read_checked(const H5Reader& in, const std::string& name, std::int64_t rank);
// "0", "1", ..., "n-1".
std::vector<std::string> numbered(std::int64_t n);

}  // namespace patchbay::report_detail

#include "args.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "patchbay/core/error.hpp"
#include "patchbay/io/output_path.hpp"

namespace patchbay::cli {

std::vector<std::string> split_list(const std::string& text, const char* separators, bool keep_empty) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto sep = text.find_first_of(separators, start);
    auto part = text.substr(start, sep == std::string::npos ? std::string::npos : sep - start);
    if (keep_empty || !part.empty()) out.push_back(part);
    if (sep == std::string::npos) break;
    start = sep + 1;
  }
  return out;
}

void add_positional_options(CLI::App* cmd, bool& positional, std::string& aggregation) {
  cmd->add_flag("--positional", positional,
                "position-aware graph: nodes are (component, span) over the pairs' spans (their own, their words, or one per token)");
  cmd->add_option("--span-aggregation", aggregation, "how EAP / EAP-IG combine a span's token scores: sum, mean, abs-sum or max-abs")
      ->check(CLI::IsMember({"sum", "mean", "abs-sum", "max-abs"}));
}

std::optional<SpanAggregation> positional_option(bool positional, const std::string& aggregation) {
  if (!positional) {
    if (aggregation != "sum") fail<InputError>("--span-aggregation {} needs --positional", aggregation);
    return std::nullopt;
  }
  return parse_span_aggregation(aggregation);
}

std::vector<EdgeMethod> parse_edge_methods(const std::string& text) {
  std::vector<EdgeMethod> out;
  for (const auto& name : split_list(text)) {
    const auto m = parse_edge_method(name);
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  }
  if (out.empty()) fail<InputError>("expected one or more of path, eap, eap-ig separated by commas, got '{}'", text);
  return out;
}

std::function<std::string(const std::string&)> positive_number() {
  return [](const std::string& text) -> std::string {
    try {
      std::size_t used = 0;
      const double v = std::stod(text, &used);
      if (used == text.size() && std::isfinite(v) && v > 0) return {};
    } catch (const std::exception&) {
    }
    return fmt::format("must be a positive number, got '{}'", text);
  };
}

std::function<std::string(const std::string&)> non_negative_integer() {
  return [](const std::string& text) -> std::string {
    const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && text.size() <= 19) return {};
    return fmt::format("must be a whole number >= 0 (at most 19 digits), got '{}'", text);
  };
}

void refuse_empty_values(const CLI::App& app) {
  for (const auto* option : app.get_options()) {
    if (option->count() == 0 || option->get_type_size() == 0) continue;  // absent, or a flag
    for (const auto& value : option->results())
      if (value.empty()) fail<InputError>("{}: the value is empty; expected {}", option->get_name(), option->get_description());
  }
  for (const auto* sub : app.get_subcommands()) refuse_empty_values(*sub);
}

std::function<std::string(const std::string&)> edge_methods_check(bool allow_none) {
  return [allow_none](const std::string& text) -> std::string {
    if (allow_none && text == "none") return {};
    try {
      (void)parse_edge_methods(text);
      return {};
    } catch (const InputError& e) {
      return e.what();
    }
  };
}

int parse_int(const std::string& text, const char* what) {
  try {
    std::size_t used = 0;
    int v = std::stoi(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  fail<InputError>("{}: '{}' is not an integer", what, text);
}

std::string result_path(const std::string& given, const std::string& default_dir, const std::string& default_name, bool force,
                        std::span<const std::string> inputs) {
  std::string out = given;
  if (out.empty()) {
    std::filesystem::create_directories("results/" + default_dir);
    out = "results/" + default_dir + "/" + default_name;
  }
  check_output_path(out, force, inputs);
  return out;
}

}  // namespace patchbay::cli

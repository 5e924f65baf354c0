#pragma once
// Parsing of list-valued command-line arguments, shared by the subcommands.
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "patchbay/experiments/patching_study.hpp"

namespace CLI {
class App;
}

namespace patchbay::cli {

// Parts of `text` between any of `separators`; empty parts are dropped unless keep_empty.
std::vector<std::string> split_list(const std::string& text, const char* separators = ",", bool keep_empty = false);

// The whole of `text` as an int; InputError naming the option `what` otherwise.
int parse_int(const std::string& text, const char* what);

// CLI11 checks with messages that say what is expected: a finite number > 0 ("must be a
// positive number, got 'nan'"), and an integer >= 0 written without a sign (a seed of -1
// would otherwise wrap to 2^64 - 1).
std::function<std::string(const std::string&)> positive_number();
std::function<std::string(const std::string&)> non_negative_integer();

// Refuses an option given an empty value (--out "", --word-lengths ""), which would otherwise
// fall back to its default without a word: InputError naming the option.
void refuse_empty_values(const CLI::App& app);

// A CLI11 check that `text` is a comma-separated list of edge methods (path, eap, eap-ig),
// optionally allowing "none" on its own.
std::function<std::string(const std::string&)> edge_methods_check(bool allow_none);
// --positional and --span-aggregation (discover, patch): the study's position-aware option.
void add_positional_options(CLI::App* cmd, bool& positional, std::string& aggregation);
std::optional<SpanAggregation> positional_option(bool positional, const std::string& aggregation);
// The methods of such a list, in order, without repeats.
std::vector<EdgeMethod> parse_edge_methods(const std::string& text);

// Where a command writes its result: `given`, or results/<default_dir>/<default_name> (the
// directory created). Refuses, before hours of work rather than after, what check_output_path
// refuses: an existing file unless `force`, a special file, an unwritable directory, an input.
std::string result_path(const std::string& given, const std::string& default_dir, const std::string& default_name, bool force,
                        std::span<const std::string> inputs = {});

}  // namespace patchbay::cli

#pragma once
// Parsing of list-valued command-line arguments, shared by the subcommands.
#include <string>
#include <vector>

namespace patchbay::cli {

// Parts of `text` between any of `separators`; empty parts are dropped unless keep_empty.
std::vector<std::string> split_list(const std::string& text, const char* separators = ",", bool keep_empty = false);

// The whole of `text` as an int; InputError naming the option `what` otherwise.
int parse_int(const std::string& text, const char* what);

}  // namespace patchbay::cli

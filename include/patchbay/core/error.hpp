#pragma once
// Typed errors. Library code never exits or prints; it throws one of these with a message that
// names what was wrong and what was expected. The command line maps them to exit codes.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace patchbay {

// Base of every error patchbay throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file (model, tokenizer, config, result) is missing, truncated or malformed.
class FormatError : public Error {
 public:
  using Error::Error;
};

// The caller asked for something that does not exist or does not fit
// (unknown hook, layer out of range, prompt too long, ...).
class InputError : public Error {
 public:
  using Error::Error;
};

// A result file exists and the caller did not ask to replace it. (The command line adds which
// flag replaces it; the library says only what is wrong.)
class ExistsError : public InputError {
 public:
  using InputError::InputError;
};

// Convenience: throw E with a fmt-formatted message.
template <typename E = Error, typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw E(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace patchbay

#pragma once
// What every result file records so a result can be traced back to what produced it.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace patchbay {

class Model;

// {library_version, git_commit, model, model_architecture, model_file, model_sha256, created_utc,
//  threads, command_line, inputs}. Hashing the weights file is memoised per path.
// command_line: the process's arguments (from /proc/self/cmdline, so drivers record theirs too).
// inputs: [{"path", "sha256"}] of every result file the result was made from.
nlohmann::json provenance(const Model& model, const std::vector<std::string>& input_files = {});

// SHA-256 of a file's contents (hex), for recording and checking the inputs of a result.
std::string file_sha256(const std::string& path);

// 64-bit FNV-1a, for fingerprints of datasets (not for security).
class Fingerprint {
 public:
  template <typename T>
  void add(const T* data, std::size_t count) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < count * sizeof(T); ++i) hash_ = (hash_ ^ bytes[i]) * 0x100000001B3ull;
  }
  void add(const std::string& s) { add(s.data(), s.size()); }
  std::string hex() const;

 private:
  std::uint64_t hash_ = 0xCBF29CE484222325ull;
};

}  // namespace patchbay
